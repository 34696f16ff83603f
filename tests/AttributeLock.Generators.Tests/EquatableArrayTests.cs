namespace AttributeLock.Generators.Tests;

public sealed class EquatableArrayTests
{
    [Fact]
    public void Compares_by_elements()
    {
        var a = new EquatableArray<string>(["x", "y"]);
        var b = new EquatableArray<string>(["x", "y"]);

        Assert.Equal(a, b);
        Assert.True(a == b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, new EquatableArray<string>(["x"]));
        Assert.Equal(EquatableArray<string>.Empty, new EquatableArray<string>([]));
        Assert.Empty(EquatableArray<string>.Empty);
    }
}
