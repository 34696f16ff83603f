using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace AttributeLock.Engine;

/// <summary>
/// Checks of the engine's invariants that are cheap enough to run always, release builds included: a broken one
/// throws where it broke, instead of surfacing later as a hold two callers share or a lease nobody revokes.
/// </summary>
internal static class Invariant
{
    /// <summary>Throws <see cref="InvalidOperationException"/> naming <paramref name="invariant"/> when <paramref name="condition"/> is false.</summary>
    /// <param name="condition">The invariant's check; it must have no side effect.</param>
    /// <param name="invariant">What must hold, as a sentence.</param>
    public static void Require([DoesNotReturnIf(false)] bool condition, string invariant)
    {
        if (!condition)
        {
            Fail(invariant);
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Fail(string invariant) =>
        throw new InvalidOperationException($"AttributeLock engine invariant violated: {invariant}. This is a bug in AttributeLock.");
}
