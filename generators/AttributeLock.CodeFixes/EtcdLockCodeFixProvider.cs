using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using AttributeLock.Generators;
using AttributeLock.Generators.Diagnostics;
using AttributeLock.Generators.Helpers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Editing;
using Microsoft.CodeAnalysis.Formatting;
using Microsoft.CodeAnalysis.Text;

namespace AttributeLock.CodeFixes;

/// <summary>
/// Fixes for the AttributeLock generator's diagnostics: AL0005 writes <c>&lt;id&gt;</c> for <c>{id}</c>,
/// AL0010 makes the method partial and moves its body to <c>&lt;Name&gt;Core</c>, AL0011 makes the type
/// partial, AL0012 adds a <c>&lt;Name&gt;Core</c> method and AL0019 (and AL0023, an <c>[EtcdLeader]</c> without its
/// stopping token) adds a <c>CancellationToken</c> parameter to the method and its Core. The fixes go by diagnostic
/// id, so they serve every coordination attribute.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(EtcdLockCodeFixProvider)), Shared]
public sealed class EtcdLockCodeFixProvider : CodeFixProvider
{
    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } =
        ImmutableArray.Create(DiagnosticIds.BracePlaceholder, DiagnosticIds.MethodNotPartial, DiagnosticIds.TypeNotPartial, DiagnosticIds.CoreMissing, DiagnosticIds.MissingCancellationToken, DiagnosticIds.LeaderWithoutStoppingToken);

    /// <inheritdoc />
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc />
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        SyntaxNode? root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        SourceText text = await context.Document.GetTextAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null)
        {
            return;
        }

        foreach (Diagnostic diagnostic in context.Diagnostics)
        {
            TextSpan span = diagnostic.Location.SourceSpan;
            SyntaxToken token = root.FindToken(span.Start);
            switch (diagnostic.Id)
            {
                case DiagnosticIds.BracePlaceholder:
                    string written = text.ToString(span);
                    if (written.Length > 2 && written[0] == '{' && written[written.Length - 1] == '}')
                    {
                        string placeholder = "<" + written.Substring(1, written.Length - 2) + ">";
                        Register(context, diagnostic, $"Write '{placeholder}'", DiagnosticIds.BracePlaceholder, _ => Task.FromResult(context.Document.WithText(text.WithChanges(new TextChange(span, placeholder)))));
                    }

                    break;
                case DiagnosticIds.TypeNotPartial when token.Parent is TypeDeclarationSyntax type:
                    Register(context, diagnostic, $"Make '{type.Identifier.ValueText}' partial", DiagnosticIds.TypeNotPartial, _ => Task.FromResult(InsertPartial(context.Document, text, type.Keyword.SpanStart)));
                    break;
                case DiagnosticIds.MethodNotPartial when token.Parent is MethodDeclarationSyntax method && (method.Body is not null || method.ExpressionBody is not null) && !method.Modifiers.Any(SyntaxKind.PartialKeyword):
                    Register(context, diagnostic, $"Make '{method.Identifier.ValueText}' partial and move its body to '{method.Identifier.ValueText}{NamingConventions.CoreSuffix}'", DiagnosticIds.MethodNotPartial, ct => Task.FromResult(MoveBodyToCore(context.Document, root, method)));
                    break;
                case DiagnosticIds.CoreMissing when token.Parent is MethodDeclarationSyntax method:
                    Register(context, diagnostic, $"Add '{method.Identifier.ValueText}{NamingConventions.CoreSuffix}'", DiagnosticIds.CoreMissing, ct => AddCoreAsync(context.Document, root, method, ct));
                    break;
                case DiagnosticIds.MissingCancellationToken when token.Parent is MethodDeclarationSyntax method && method.Body is null && method.ExpressionBody is null:
                    context.RegisterCodeFix(
                        CodeAction.Create(
                            $"Add a CancellationToken parameter to '{method.Identifier.ValueText}' and its Core",
                            ct => AddCancellationTokenAsync(context.Document, method, ct),
                            equivalenceKey: DiagnosticIds.MissingCancellationToken),
                        diagnostic);
                    break;
                case DiagnosticIds.LeaderWithoutStoppingToken when token.Parent?.Parent is MethodDeclarationSyntax method && method.Body is null && method.ExpressionBody is null:
                    // Reported on the parameter list: its '(' is the token found.
                    context.RegisterCodeFix(
                        CodeAction.Create(
                            $"Add a stopping token (CancellationToken) to '{method.Identifier.ValueText}' and its Core",
                            ct => AddCancellationTokenAsync(context.Document, method, ct),
                            equivalenceKey: DiagnosticIds.LeaderWithoutStoppingToken),
                        diagnostic);
                    break;
            }
        }
    }

    private static void Register(CodeFixContext context, Diagnostic diagnostic, string title, string key, System.Func<CancellationToken, Task<Document>> change)
        => context.RegisterCodeFix(CodeAction.Create(title, change, equivalenceKey: key), diagnostic);

    private static Document InsertPartial(Document document, SourceText text, int position)
        => document.WithText(text.WithChanges(new TextChange(new TextSpan(position, 0), "partial ")));

    private static Document MoveBodyToCore(Document document, SyntaxNode root, MethodDeclarationSyntax method)
    {
        bool Accessibility(SyntaxToken m) => m.IsKind(SyntaxKind.PublicKeyword) || m.IsKind(SyntaxKind.InternalKeyword) || m.IsKind(SyntaxKind.ProtectedKeyword) || m.IsKind(SyntaxKind.PrivateKeyword);

        // The declaration: same modifiers without async, an explicit accessibility, 'partial', no body.
        var declarationModifiers = method.Modifiers.Where(m => !m.IsKind(SyntaxKind.AsyncKeyword)).Select(m => m.WithoutTrivia()).ToList();
        if (!declarationModifiers.Any(Accessibility))
        {
            declarationModifiers.Insert(0, SyntaxFactory.Token(SyntaxKind.PrivateKeyword));
        }

        declarationModifiers.Add(SyntaxFactory.Token(SyntaxKind.PartialKeyword));
        MethodDeclarationSyntax declaration = method
            .WithModifiers(SyntaxFactory.TokenList(declarationModifiers))
            .WithReturnType(method.ReturnType.WithoutLeadingTrivia())
            .WithParameterList(method.ParameterList.WithoutTrailingTrivia())
            .WithBody(null)
            .WithExpressionBody(null)
            .WithSemicolonToken(SyntaxFactory.Token(SyntaxKind.SemicolonToken).WithTrailingTrivia(SyntaxFactory.ElasticCarriageReturnLineFeed))
            .WithAdditionalAnnotations(Formatter.Annotation);

        // The Core: private, keeps static/async/unsafe, the body and no attributes.
        var coreModifiers = method.Modifiers.Where(m => !Accessibility(m) && !m.IsKind(SyntaxKind.VirtualKeyword) && !m.IsKind(SyntaxKind.OverrideKeyword) && !m.IsKind(SyntaxKind.SealedKeyword) && !m.IsKind(SyntaxKind.NewKeyword))
            .Select(m => m.WithoutTrivia())
            .Prepend(SyntaxFactory.Token(SyntaxKind.PrivateKeyword));
        MethodDeclarationSyntax core = method
            .WithAttributeLists(default)
            .WithModifiers(SyntaxFactory.TokenList(coreModifiers))
            .WithReturnType(method.ReturnType.WithoutLeadingTrivia())
            .WithIdentifier(SyntaxFactory.Identifier(method.Identifier.ValueText + NamingConventions.CoreSuffix))
            .WithLeadingTrivia(SyntaxFactory.ElasticCarriageReturnLineFeed)
            .WithAdditionalAnnotations(Formatter.Annotation);

        return document.WithSyntaxRoot(root.ReplaceNode(method, new SyntaxNode[] { declaration, core }));
    }

    private static async Task<Document> AddCoreAsync(Document document, SyntaxNode root, MethodDeclarationSyntax method, CancellationToken cancellationToken)
    {
        SemanticModel? model = await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
        var symbol = model?.GetDeclaredSymbol(method, cancellationToken) as IMethodSymbol;
        string body = "default";
        if (symbol?.ReturnType is INamedTypeSymbol returnType && returnType.ContainingNamespace?.ToDisplayString() == "System.Threading.Tasks" && returnType.Name == "Task")
        {
            body = returnType.TypeArguments.Length == 0
                ? "global::System.Threading.Tasks.Task.CompletedTask"
                : $"global::System.Threading.Tasks.Task.FromResult<{returnType.TypeArguments[0].ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat.AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier))}>(default!)";
        }

        string modifiers = method.Modifiers.Any(SyntaxKind.StaticKeyword) ? "private static " : "private ";
        string parameters = string.Join(", ", method.ParameterList.Parameters.Select(p => p.WithAttributeLists(default).WithDefault(null).WithoutTrivia().ToString()));
        string constraints = method.ConstraintClauses.Count == 0 ? "" : " " + string.Join(" ", method.ConstraintClauses.Select(c => c.WithoutTrivia().ToString()));
        string coreText = $"{modifiers}{method.ReturnType.WithoutTrivia()} {method.Identifier.ValueText}{NamingConventions.CoreSuffix}{method.TypeParameterList?.WithoutTrivia()}({parameters}){constraints} => {body};";
        MemberDeclarationSyntax? core = SyntaxFactory.ParseMemberDeclaration(coreText);
        if (core is null)
        {
            return document;
        }

        core = core.WithLeadingTrivia(SyntaxFactory.ElasticCarriageReturnLineFeed).WithAdditionalAnnotations(Formatter.Annotation);
        return document.WithSyntaxRoot(root.InsertNodesAfter(method, new[] { core }));
    }

    /// <summary>
    /// Adds <c>CancellationToken cancellationToken = default</c> to the partial declaration (before a <c>params</c>
    /// parameter, if any) and <c>CancellationToken cancellationToken</c> to the matching Core, wherever it is
    /// declared, so that the two still match (AL0013).
    /// </summary>
    private static async Task<Solution> AddCancellationTokenAsync(Document document, MethodDeclarationSyntax method, CancellationToken cancellationToken)
    {
        Solution solution = document.Project.Solution;
        SemanticModel? model = await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
        if (model?.GetDeclaredSymbol(method, cancellationToken) is not IMethodSymbol wrapper)
        {
            return solution;
        }

        // Found before the change, while the two still match.
        IMethodSymbol? core = Symbols.FindCore(wrapper);
        string name = FreeParameterName(wrapper, core);
        var editor = new SolutionEditor(solution);

        DocumentEditor wrapperEditor = await editor.GetDocumentEditorAsync(document.Id, cancellationToken).ConfigureAwait(false);
        wrapperEditor.ReplaceNode(method, WithParameter(method, TokenParameter(model, method.SpanStart, name, optional: true)));

        if (core?.DeclaringSyntaxReferences.FirstOrDefault() is { } reference
            && await reference.GetSyntaxAsync(cancellationToken).ConfigureAwait(false) is MethodDeclarationSyntax coreSyntax
            && solution.GetDocument(reference.SyntaxTree) is { } coreDocument)
        {
            DocumentEditor coreEditor = await editor.GetDocumentEditorAsync(coreDocument.Id, cancellationToken).ConfigureAwait(false);

            // Optional only when an optional parameter comes before it (required ones may not follow those).
            bool optional = coreSyntax.ParameterList.Parameters.Any(p => p.Default is not null);
            coreEditor.ReplaceNode(coreSyntax, WithParameter(coreSyntax, TokenParameter(coreEditor.SemanticModel, coreSyntax.SpanStart, name, optional)));
        }

        return editor.GetChangedSolution();
    }

    private static string FreeParameterName(IMethodSymbol wrapper, IMethodSymbol? core)
    {
        var taken = new System.Collections.Generic.HashSet<string>(wrapper.Parameters.Select(p => p.Name));
        taken.UnionWith(core?.Parameters.Select(p => p.Name) ?? Enumerable.Empty<string>());
        string name = "cancellationToken";
        for (int i = 2; taken.Contains(name); i++)
        {
            name = "cancellationToken" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return name;
    }

    /// <summary><c>CancellationToken name</c>, fully qualified where <c>CancellationToken</c> does not bind to the type.</summary>
    private static ParameterSyntax TokenParameter(SemanticModel model, int position, string name, bool optional)
    {
        INamedTypeSymbol? tokenType = model.Compilation.GetTypeByMetadataName("System.Threading.CancellationToken");
        ITypeSymbol? bound = model.GetSpeculativeTypeInfo(position, SyntaxFactory.ParseTypeName("CancellationToken"), SpeculativeBindingOption.BindAsTypeOrNamespace).Type;
        string type = tokenType is not null && SymbolEqualityComparer.Default.Equals(bound, tokenType) ? "CancellationToken" : "global::System.Threading.CancellationToken";
        return SyntaxFactory.ParseParameterList($"({type} {name}{(optional ? " = default" : "")})").Parameters[0];
    }

    private static MethodDeclarationSyntax WithParameter(MethodDeclarationSyntax method, ParameterSyntax parameter)
    {
        SeparatedSyntaxList<ParameterSyntax> parameters = method.ParameterList.Parameters;
        int index = parameters.Count > 0 && parameters[parameters.Count - 1].Modifiers.Any(SyntaxKind.ParamsKeyword) ? parameters.Count - 1 : parameters.Count;
        var nodes = parameters.ToList();
        nodes.Insert(index, parameter);
        var separators = parameters.GetSeparators().ToList();
        if (nodes.Count > 1)
        {
            // Separator i sits between parameters i and i + 1.
            separators.Insert(System.Math.Min(index, separators.Count), SyntaxFactory.Token(SyntaxKind.CommaToken).WithTrailingTrivia(SyntaxFactory.Space));
        }

        return method.WithParameterList(method.ParameterList.WithParameters(SyntaxFactory.SeparatedList(nodes, separators)));
    }
}
