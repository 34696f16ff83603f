namespace AttributeLock.Generators.Models;

/// <summary>
/// The attribute's <c>WhenBusy</c> value; mirrors <c>AttributeLock.LockBusyBehavior</c>, which the generator
/// cannot reference. Other values are kept as they are and written as a cast.
/// </summary>
internal enum BusyBehavior
{
    /// <summary><c>LockBusyBehavior.Throw</c>: wait, then throw when the wait times out.</summary>
    Throw = 0,

    /// <summary><c>LockBusyBehavior.Skip</c>: return without running the body.</summary>
    Skip = 1,
}
