namespace AttributeLock.Generators.Templates;

/// <summary>The kinds of pieces a key template is split into.</summary>
internal enum TemplateTokenKind
{
    /// <summary>Literal text.</summary>
    Literal,

    /// <summary>A well-formed placeholder <c>&lt;a.b&gt;</c>.</summary>
    Placeholder,

    /// <summary>A <c>&lt;</c> without its <c>&gt;</c>.</summary>
    Unterminated,

    /// <summary><c>&lt;&gt;</c>.</summary>
    Empty,

    /// <summary>A placeholder whose content is not a name or member path.</summary>
    InvalidName,

    /// <summary><c>{a.b}</c>: looks like a placeholder in the wrong syntax (also kept as literal text).</summary>
    Braces,
}
