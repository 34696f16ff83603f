using Microsoft.CodeAnalysis;

namespace AttributeLock.Generators.Diagnostics
{
    /// <summary>All diagnostics reported by the AttributeLock generator and analyzer.</summary>
    public static class DiagnosticDescriptors
    {
        private const string Category = "AttributeLock";

        /// <summary>AL0001: the key template is empty.</summary>
        public static readonly DiagnosticDescriptor EmptyTemplate = Error(
            "AL0001",
            "Lock key template is empty",
            "The lock key template of '{0}' is empty; give a key such as \"/orders/<id>\"");

        /// <summary>AL0002: a placeholder names no parameter.</summary>
        public static readonly DiagnosticDescriptor UnknownPlaceholder = Error(
            "AL0002",
            "Lock key placeholder names no parameter",
            "The lock key placeholder '<{0}>' does not name a parameter of '{1}'{2}");

        /// <summary>AL0003: a placeholder is unterminated, empty or not a name.</summary>
        public static readonly DiagnosticDescriptor MalformedPlaceholder = Error(
            "AL0003",
            "Lock key placeholder is malformed",
            "The lock key placeholder '{0}' is malformed: {1}");

        /// <summary>AL0004: a member of a placeholder's path does not exist.</summary>
        public static readonly DiagnosticDescriptor MemberNotFound = Error(
            "AL0004",
            "Lock key placeholder member not found",
            "The lock key placeholder '<{0}>' cannot be resolved: '{1}' has no readable instance property or field named '{2}'");

        /// <summary>AL0005: a placeholder was written with braces.</summary>
        public static readonly DiagnosticDescriptor BracePlaceholder = Error(
            "AL0005",
            "Lock key placeholders use angle brackets",
            "'{{{0}}}' in the lock key template is literal text, not a placeholder; write '<{0}>'");

        /// <summary>AL0006: a placeholder's type has no culture-invariant string form.</summary>
        public static readonly DiagnosticDescriptor PlaceholderType = Error(
            "AL0006",
            "Lock key placeholder type has no culture-invariant string form",
            "The lock key placeholder '<{0}>' has type '{1}', which has no culture-invariant string form: use a string, a primitive, an enum, a type implementing IFormattable or a type that overrides ToString{2}");

        /// <summary>AL0007: the key template does not start with '/'.</summary>
        public static readonly DiagnosticDescriptor TemplateWithoutSlash = new DiagnosticDescriptor(
            "AL0007",
            "Lock key template should start with '/'",
            "The lock key template \"{0}\" does not start with '/'; keys are paths such as \"/orders/<id>\"",
            Category,
            DiagnosticSeverity.Warning,
            isEnabledByDefault: true);

        /// <summary>AL0008: Ttl set explicitly below 1.</summary>
        public static readonly DiagnosticDescriptor InvalidTtl = Error(
            "AL0008",
            "Lock Ttl must be at least 1 second",
            "Ttl is {0}; set it to at least 1 second, or leave it unset to use the provider's default");

        /// <summary>AL0009: WaitTimeoutMilliseconds below -1.</summary>
        public static readonly DiagnosticDescriptor InvalidWaitTimeout = Error(
            "AL0009",
            "Lock wait timeout is invalid",
            "WaitTimeoutMilliseconds is {0}; use -1 to wait without limit, 0 for a single attempt or a positive number of milliseconds");

        /// <summary>AL0010: the method is not a partial declaration without a body.</summary>
        public static readonly DiagnosticDescriptor MethodNotPartial = Error(
            "AL0010",
            "[EtcdLock] method must be partial",
            "'{0}' must be declared 'partial' without a body so that the generator can implement it{1}");

        /// <summary>AL0011: a containing type is not partial.</summary>
        public static readonly DiagnosticDescriptor TypeNotPartial = Error(
            "AL0011",
            "Type containing an [EtcdLock] method must be partial",
            "'{0}' must be declared 'partial' because it contains the [EtcdLock] method '{1}'");

        /// <summary>AL0012: the Core method is missing.</summary>
        public static readonly DiagnosticDescriptor CoreMissing = Error(
            "AL0012",
            "[EtcdLock] method has no Core method",
            "'{0}' needs a method '{1}' in the same type with the same parameters and return type: the generated implementation calls it while holding the lock");

        /// <summary>AL0013: the Core method does not match.</summary>
        public static readonly DiagnosticDescriptor CoreMismatch = Error(
            "AL0013",
            "Core method does not match its [EtcdLock] method",
            "'{0}' does not match the [EtcdLock] method '{1}': {2}");

        /// <summary>AL0014: no lock provider member.</summary>
        public static readonly DiagnosticDescriptor ProviderMissing = Error(
            "AL0014",
            "No IEtcdLockProvider for an [EtcdLock] method",
            "'{0}' has no {1}field, property or primary constructor parameter of type IEtcdLockProvider for '{2}' to lock with");

        /// <summary>AL0015: several lock provider members.</summary>
        public static readonly DiagnosticDescriptor ProviderAmbiguous = Error(
            "AL0015",
            "Several IEtcdLockProvider members for an [EtcdLock] method",
            "'{0}' has several members of type IEtcdLockProvider that '{1}' could lock with ({2}); keep exactly one");

        /// <summary>AL0016: the return type is not Task, Task&lt;T&gt;, ValueTask or ValueTask&lt;T&gt;.</summary>
        public static readonly DiagnosticDescriptor UnsupportedReturnType = Error(
            "AL0016",
            "[EtcdLock] method has an unsupported return type",
            "'{0}' returns '{1}', which an [EtcdLock] method cannot: {2}");

        /// <summary>AL0017: a parameter cannot be passed through an async wrapper.</summary>
        public static readonly DiagnosticDescriptor UnsupportedParameter = Error(
            "AL0017",
            "[EtcdLock] method has an unsupported parameter",
            "Parameter '{0}' of '{1}' is {2}, which an async method cannot take");

        /// <summary>AL0018: a Core method is called or referenced directly, bypassing the lock.</summary>
        public static readonly DiagnosticDescriptor CoreCalledDirectly = new DiagnosticDescriptor(
            "AL0018",
            "Core method of an [EtcdLock] method used directly",
            "'{0}' runs without the lock of '{1}'; call '{1}' instead",
            Category,
            DiagnosticSeverity.Error,
            isEnabledByDefault: true,
            description: "The Core method holds the body of an [EtcdLock] method; only the generated implementation may call it, because every other call bypasses the distributed lock.",
            customTags: WellKnownDiagnosticTags.NotConfigurable);

        private static DiagnosticDescriptor Error(string id, string title, string message)
            => new DiagnosticDescriptor(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true);
    }
}
