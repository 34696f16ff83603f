using System;
using System.Collections.Generic;

namespace AttributeLock.Generators.Helpers;

/// <summary>Creates <see cref="EquatableArray{T}"/> values.</summary>
internal static class EquatableArray
{
    /// <summary>Copies <paramref name="items"/> into an equatable array.</summary>
    public static EquatableArray<T> ToEquatableArray<T>(this IEnumerable<T> items)
        where T : IEquatable<T>
        => new EquatableArray<T>(items switch
        {
            List<T> list => list.ToArray(),
            ICollection<T> collection => Copy(collection),
            _ => new List<T>(items).ToArray(),
        });

    private static T[] Copy<T>(ICollection<T> collection)
    {
        if (collection.Count == 0)
        {
            return Array.Empty<T>();
        }

        var array = new T[collection.Count];
        collection.CopyTo(array, 0);
        return array;
    }
}
