namespace AttributeLock.Engine;

/// <summary>What <see cref="HoldBase.TryNest"/> decided.</summary>
internal enum NestOutcome
{
    Nested,
    NotLive,
    Busy,
}
