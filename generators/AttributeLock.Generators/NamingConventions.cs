namespace AttributeLock.Generators;

/// <summary>Names that the generator, the analyzer and the code fixes agree on.</summary>
public static class NamingConventions
{
    /// <summary>
    /// The suffix of the method that holds an <c>[EtcdLock]</c> method's body: <c>ShipAsync</c> locks and
    /// calls <c>ShipAsyncCore</c>.
    /// </summary>
    public const string CoreSuffix = "Core";
}
