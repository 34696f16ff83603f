namespace AttributeLock.EndToEnd.Tests;

public sealed record Order(int Id, string CustomerId);
