namespace AttributeLock.Generators.Tests;

/// <summary>Key parts compare by value, so models holding them stay cacheable.</summary>
public sealed class KeyPartTests
{
    [Fact]
    public void Equal_parts_are_equal_and_the_two_kinds_never_are()
    {
        KeyPart placeholder = new PlaceholderKeyPart("order", "order.Id", new EquatableArray<MemberStep>([new MemberStep("Id", true, "order")]));
        KeyPart same = new PlaceholderKeyPart("order", "order.Id", new EquatableArray<MemberStep>([new MemberStep("Id", true, "order")]));

        Assert.Equal(placeholder, same);
        Assert.Equal(placeholder.GetHashCode(), same.GetHashCode());
        Assert.NotEqual(placeholder, new PlaceholderKeyPart("order", "order.Id", new EquatableArray<MemberStep>([new MemberStep("Id", false, "order")])));
        Assert.Equal<KeyPart>(new LiteralKeyPart("/orders/"), new LiteralKeyPart("/orders/"));
        Assert.NotEqual<KeyPart>(new LiteralKeyPart("order"), new PlaceholderKeyPart("order", "order", EquatableArray<MemberStep>.Empty));
    }
}
