using Xunit.Sdk;

namespace AttributeLock.Generators.Tests;

public sealed class KeyTemplateTests
{
    [Theory]
    [InlineData("/orders/<id>", "Literal:/orders/|Placeholder:<id>")]
    [InlineData("/a/<order.Customer.Id>-x", "Literal:/a/|Placeholder:<order.Customer.Id>|Literal:-x")]
    [InlineData("<a><b>", "Placeholder:<a>|Placeholder:<b>")]
    [InlineData("/<@class>", "Literal:/|Placeholder:<@class>")]
    [InlineData("/x>y", "Literal:/x>y")]
    [InlineData("/<id", "Literal:/|Unterminated:<id")]
    [InlineData("/<a<b>", "Literal:/|Unterminated:<a|Placeholder:<b>")]
    [InlineData("/<>", "Literal:/|Empty:<>")]
    [InlineData("/<1a>", "Literal:/|InvalidName:<1a>")]
    [InlineData("/{id}/{}/{ x }", "Literal:/|Braces:{id}|Literal:/{}/{ x }")]
    public void Tokenize_splits_literals_and_placeholders(string template, string expected)
    {
        var tokens = KeyTemplate.Tokenize(template);
        Assert.Equal(expected, string.Join("|", tokens.Select(t => t.Kind + ":" + template.Substring(t.Start, t.Length))));
    }

    [Fact]
    public void Placeholder_segments_and_their_positions()
    {
        const string template = "/x/<order.@class.Id>";
        TemplateToken token = KeyTemplate.Tokenize(template)[1];

        Assert.Equal(["order", "class", "Id"], token.Segments);
        Assert.Equal("order.class.Id", token.Path);
        Assert.Equal("@class", template.Substring(token.SegmentStart(template, 1), token.SegmentLength(template, 1)));
        Assert.Equal("Id", template.Substring(token.SegmentStart(template, 2), token.SegmentLength(template, 2)));
    }
}
