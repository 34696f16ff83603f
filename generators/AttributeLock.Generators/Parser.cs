using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using AttributeLock.Generators.Diagnostics;
using AttributeLock.Generators.Helpers;
using AttributeLock.Generators.Models;
using AttributeLock.Generators.Templates;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace AttributeLock.Generators;

/// <summary>
/// Validates one method marked with a coordination attribute (<c>[EtcdLock]</c>, <c>[EtcdSemaphore]</c>,
/// <c>[EtcdReadLock]</c>, <c>[EtcdWriteLock]</c> or <c>[EtcdLeader]</c>) and turns it into a <see cref="LockMethodModel"/>.
/// Symbols and syntax stay in here: the result holds plain values only, so the pipeline can cache it.
/// </summary>
internal sealed class Parser
{
    private const string LockLocalName = "__lock";
    private const string LeadingParameterName = "__leading";

    private readonly Compilation _compilation;
    private readonly KnownTypes _known;
    private readonly IMethodSymbol _method;
    private readonly MethodDeclarationSyntax _syntax;
    private readonly SyntaxTree _tree;
    private readonly LockKind _kind;
    private readonly CancellationToken _cancellationToken;
    private List<DiagnosticInfo>? _diagnostics;
    private ExpressionSyntax? _templateExpression;
    private string? _template;
    private TemplateSourceMap? _map;
    private KeyTemplateUse? _templateUse;

    private Parser(Compilation compilation, IMethodSymbol method, MethodDeclarationSyntax syntax, LockKind kind, CancellationToken cancellationToken)
    {
        _kind = kind;
        _compilation = compilation;
        _known = KnownTypes.For(compilation);
        _method = method;
        _syntax = syntax;
        _tree = syntax.SyntaxTree;
        _cancellationToken = cancellationToken;
    }

    /// <summary>Parses the method that <paramref name="context"/> found through the attribute of <paramref name="kind"/>.</summary>
    public static ParseResult Parse(GeneratorAttributeSyntaxContext context, LockKind kind, CancellationToken cancellationToken)
    {
        if (context.TargetSymbol is not IMethodSymbol method
            || context.TargetNode is not MethodDeclarationSyntax syntax
            || context.Attributes.Length == 0)
        {
            return new ParseResult(null, EquatableArray<DiagnosticInfo>.Empty);
        }

        var parser = new Parser(context.SemanticModel.Compilation, method, syntax, kind, cancellationToken);
        if (!parser.OwnsMethod(cancellationToken))
        {
            return new ParseResult(null, EquatableArray<DiagnosticInfo>.Empty);
        }

        LockMethodModel? model = parser.Run(context.Attributes[0]);
        return new ParseResult(model, parser._diagnostics is null ? EquatableArray<DiagnosticInfo>.Empty : parser._diagnostics.ToEquatableArray(), parser._templateUse);
    }

    private string MethodName => _method.Name;

    /// <summary>The attribute as messages name it, e.g. <c>EtcdSemaphore</c>.</summary>
    private string AttributeName => LockKinds.DisplayName(_kind);

    /// <summary>
    /// Whether this parse implements the method. A method with several coordination attributes gets one implementation
    /// (an error stub): the parse for the first attribute in source order reports AL0024 on each of the others, and the
    /// parses for the others yield nothing, so neither a second file nor a second report comes from them.
    /// </summary>
    private bool OwnsMethod(CancellationToken cancellationToken)
    {
        List<(AttributeData Attribute, LockKind Kind, SyntaxReference Reference)>? found = null;
        foreach (AttributeData attribute in _method.GetAttributes())
        {
            if (LockKinds.Of(attribute.AttributeClass) is { } kind && attribute.ApplicationSyntaxReference is { } reference)
            {
                (found ??= new List<(AttributeData, LockKind, SyntaxReference)>()).Add((attribute, kind, reference));
            }
        }

        if (found is null || found.Count < 2)
        {
            return true;
        }

        found.Sort(static (a, b) =>
        {
            int byFile = string.CompareOrdinal(a.Reference.SyntaxTree.FilePath, b.Reference.SyntaxTree.FilePath);
            return byFile != 0 ? byFile : a.Reference.Span.Start.CompareTo(b.Reference.Span.Start);
        });
        LockKind owner = found[0].Kind;
        if (owner != _kind)
        {
            return false;
        }

        for (int i = 1; i < found.Count; i++)
        {
            // A second attribute of the same kind is the compiler's error (AllowMultiple = false).
            if (found[i].Kind != owner && found[i].Reference.GetSyntax(cancellationToken) is AttributeSyntax other)
            {
                Report(DiagnosticDescriptors.SeveralCoordinationAttributes, LocationInfo.From(other.SyntaxTree, other.Name.Span), MethodName, LockKinds.DisplayName(owner), LockKinds.DisplayName(found[i].Kind));
            }
        }

        return true;
    }

    private LocationInfo MethodLocation => At(_syntax.Identifier.Span);

    private LockMethodModel? Run(AttributeData attribute)
    {
        CheckPartial();
        EquatableArray<ContainingTypeModel> containingTypes = ContainingTypes();
        bool? returnsValue = _kind == LockKind.Leader ? LeaderReturnShape() : ReturnShape();
        CheckParameters();

        ImmutableArray<IParameterSymbol> parameters = _method.Parameters;
        IParameterSymbol? token = null;
        foreach (IParameterSymbol parameter in parameters)
        {
            if (KnownTypes.Is(parameter.Type, _known.CancellationToken))
            {
                token = parameter;
                break;
            }
        }

        if (token is null && _kind == LockKind.Leader)
        {
            Report(DiagnosticDescriptors.LeaderWithoutStoppingToken, At(_syntax.ParameterList.Span), MethodName);
        }

        var attributeSyntax = attribute.ApplicationSyntaxReference?.GetSyntax(_cancellationToken) as AttributeSyntax;
        EquatableArray<KeyPart>? keyParts = KeyParts(attribute, attributeSyntax);
        (int ttl, int maxCount, int wait, int holdAtLeast, BusyBehavior whenBusy) = Options(attribute, attributeSyntax);
        string? provider = Provider();
        IMethodSymbol? core = Core();

        if (HasErrors())
        {
            return ErrorStub(containingTypes);
        }

        if (returnsValue is null || keyParts is null || provider is null || core is null)
        {
            return null;
        }

        string localName = _kind == LockKind.Leader ? LeadingParameterName : LockLocalName;
        string lockLocal = localName;
        for (int i = 1; HasParameterNamed(lockLocal) || HasParameterNamed(lockLocal + Emitter.CancelledSuffix); i++)
        {
            lockLocal = localName + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        ImmutableArray<ITypeParameterSymbol> typeParameters = _method.TypeParameters;
        string typeArguments = typeParameters.Length == 0
            ? ""
            : "<" + string.Join(", ", typeParameters.Select(t => Symbols.Escape(t.Name))) + ">";

        var renderedParameters = new string[parameters.Length];
        var arguments = new string[parameters.Length];
        for (int i = 0; i < parameters.Length; i++)
        {
            arguments[i] = Symbols.Escape(parameters[i].Name);
            renderedParameters[i] = RenderParameter(parameters[i], arguments[i]);
        }

        return new LockMethodModel(
            Kind: _kind,
            Identity: _method.ToDisplayString(),
            BaseHintName: HintBase(_method.ContainingType) + "." + HintPart(_method.Name, typeParameters),
            Namespace: _method.ContainingNamespace.IsGlobalNamespace
                ? null
                : _known.NamespaceName(_method.ContainingNamespace),
            ContainingTypes: containingTypes,
            Modifiers: Modifiers(),
            ReturnType: _known.TypeName(_method.ReturnType),
            Name: Symbols.Escape(_method.Name),
            TypeParameters: typeArguments,
            Parameters: new EquatableArray<string>(renderedParameters),
            Constraints: typeParameters.Length == 0
                ? EquatableArray<string>.Empty
                : typeParameters.Select(RenderConstraints).Where(c => c is not null).Select(c => c!).ToEquatableArray(),
            ReturnsValue: returnsValue.Value,
            Provider: provider,
            KeyParts: keyParts.Value,
            TtlSeconds: ttl,
            MaxCount: maxCount,
            WaitTimeoutMilliseconds: wait,
            HoldAtLeastMilliseconds: holdAtLeast,
            WhenBusy: whenBusy,
            CancellationTokenParameter: token is null ? null : Symbols.Escape(token.Name),
            CoreName: Symbols.Escape(core.Name) + typeArguments,
            Arguments: new EquatableArray<string>(arguments),
            LockLocal: lockLocal,
            ErrorIds: null);
    }

    /// <summary>
    /// An implementation that only throws, for a method with an AL error: without it the compiler adds CS8795
    /// ("must have an implementation part") to every mistake. It never calls the Core, so a build that lowered the
    /// error's severity cannot run the body without the lock. <c>null</c> where no valid implementation can be
    /// written: the method is not a partial definition or its type not partial (AL0010, AL0011), or its signature
    /// has types the compiler already reports, pointers, or <c>ref readonly</c> parameters.
    /// </summary>
    private LockMethodModel? ErrorStub(EquatableArray<ContainingTypeModel> containingTypes)
    {
        var ids = new SortedSet<string>(System.StringComparer.Ordinal);
        foreach (DiagnosticInfo diagnostic in _diagnostics!)
        {
            if (diagnostic.Descriptor.DefaultSeverity == DiagnosticSeverity.Error)
            {
                ids.Add(diagnostic.Descriptor.Id);
            }
        }

        if (ids.Contains(DiagnosticIds.MethodNotPartial) || ids.Contains(DiagnosticIds.TypeNotPartial)
            || !_method.IsPartialDefinition || _method.PartialImplementationPart is not null
            || !CanRender(_method.ReturnType))
        {
            return null;
        }

        ImmutableArray<IParameterSymbol> parameters = _method.Parameters;
        var renderedParameters = new string[parameters.Length];
        for (int i = 0; i < parameters.Length; i++)
        {
            IParameterSymbol parameter = parameters[i];
            string? refKind = parameter.RefKind switch
            {
                RefKind.None => "",
                RefKind.Ref => "ref ",
                RefKind.Out => "out ",
                RefKind.In => "in ",
                _ => null,
            };
            if (refKind is null || !CanRender(parameter.Type))
            {
                return null;
            }

            // 'scoped' must match the definition; an 'out' parameter is scoped without saying so.
            string scoped = parameter.ScopedKind != ScopedKind.None && parameter.RefKind != RefKind.Out ? "scoped " : "";
            renderedParameters[i] = scoped + refKind + RenderParameter(parameter, Symbols.Escape(parameter.Name));
        }

        ImmutableArray<ITypeParameterSymbol> typeParameters = _method.TypeParameters;
        foreach (ITypeParameterSymbol typeParameter in typeParameters)
        {
            foreach (ITypeSymbol constraint in typeParameter.ConstraintTypes)
            {
                if (!CanRender(constraint))
                {
                    return null;
                }
            }
        }

        string returnType = (_method.ReturnsByRefReadonly ? "ref readonly " : _method.ReturnsByRef ? "ref " : "") + _known.TypeName(_method.ReturnType);
        return new LockMethodModel(
            Kind: _kind,
            Identity: _method.ToDisplayString(),
            BaseHintName: HintBase(_method.ContainingType) + "." + HintPart(_method.Name, typeParameters),
            Namespace: _method.ContainingNamespace.IsGlobalNamespace ? null : _known.NamespaceName(_method.ContainingNamespace),
            ContainingTypes: containingTypes,
            Modifiers: Modifiers(),
            ReturnType: returnType,
            Name: Symbols.Escape(_method.Name),
            TypeParameters: typeParameters.Length == 0 ? "" : "<" + string.Join(", ", typeParameters.Select(t => Symbols.Escape(t.Name))) + ">",
            Parameters: new EquatableArray<string>(renderedParameters),
            Constraints: typeParameters.Length == 0
                ? EquatableArray<string>.Empty
                : typeParameters.Select(RenderConstraints).Where(c => c is not null).Select(c => c!).ToEquatableArray(),
            ReturnsValue: false,
            Provider: "",
            KeyParts: EquatableArray<KeyPart>.Empty,
            TtlSeconds: 0,
            MaxCount: 0,
            WaitTimeoutMilliseconds: 0,
            HoldAtLeastMilliseconds: 0,
            WhenBusy: BusyBehavior.Throw,
            CancellationTokenParameter: null,
            CoreName: "",
            Arguments: EquatableArray<string>.Empty,
            LockLocal: "",
            ErrorIds: string.Join(", ", ids));
    }

    /// <summary>Whether <paramref name="type"/> can be written in generated code as it is: no error type or pointer in it.</summary>
    private static bool CanRender(ITypeSymbol type)
    {
        switch (type)
        {
            case IErrorTypeSymbol:
            case IPointerTypeSymbol:
            case IFunctionPointerTypeSymbol:
                return false;
            case IArrayTypeSymbol array:
                return CanRender(array.ElementType);
            case INamedTypeSymbol named:
                foreach (ITypeSymbol argument in named.TypeArguments)
                {
                    if (!CanRender(argument))
                    {
                        return false;
                    }
                }

                return named.ContainingType is null || CanRender(named.ContainingType);
            default:
                return type.TypeKind != TypeKind.Error;
        }
    }

    private bool HasErrors()
    {
        if (_diagnostics is not null)
        {
            foreach (DiagnosticInfo diagnostic in _diagnostics)
            {
                if (diagnostic.Descriptor.DefaultSeverity == DiagnosticSeverity.Error)
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>The declaration's modifiers without <c>partial</c>, <c>async</c> and <c>extern</c>, separated by spaces.</summary>
    private string Modifiers()
    {
        string? first = null;
        System.Text.StringBuilder? several = null;
        foreach (SyntaxToken modifier in _syntax.Modifiers)
        {
            if (modifier.IsKind(SyntaxKind.PartialKeyword) || modifier.IsKind(SyntaxKind.AsyncKeyword) || modifier.IsKind(SyntaxKind.ExternKeyword))
            {
                continue;
            }

            if (first is null)
            {
                first = modifier.Text;
            }
            else
            {
                (several ??= new System.Text.StringBuilder(first)).Append(' ').Append(modifier.Text);
            }
        }

        return several?.ToString() ?? first ?? "";
    }

    private LocationInfo At(TextSpan span) => LocationInfo.From(_tree, span);

    /// <summary>The template's source map, built only when a diagnostic needs it.</summary>
    private TemplateSourceMap Map => _map ??= TemplateSourceMap.Create(_templateExpression!, _template!);

    private void Report(DiagnosticDescriptor descriptor, LocationInfo location, params string[] args)
        => (_diagnostics ??= new List<DiagnosticInfo>()).Add(DiagnosticInfo.Create(descriptor, location, args));

    private static string HintPart(string name, ImmutableArray<ITypeParameterSymbol> typeParameters)
        => typeParameters.Length == 0 ? name : name + "{" + string.Join(",", typeParameters.Select(t => t.Name)) + "}";

    /// <summary>The containing types' part of the file name, outermost first: <c>Outer.Inner{T}</c>.</summary>
    private static string HintBase(INamedTypeSymbol type)
    {
        string part = HintPart(type.Name, type.TypeParameters);
        return type.ContainingType is { } outer ? HintBase(outer) + "." + part : part;
    }

    private void CheckPartial()
    {
        if (_method.PartialImplementationPart is not null)
        {
            Report(DiagnosticDescriptors.MethodNotPartial, MethodLocation, MethodName, "; remove the hand-written implementation");
        }
        else if (!_method.IsPartialDefinition)
        {
            bool hasBody = _syntax.Body is not null || _syntax.ExpressionBody is not null;
            Report(DiagnosticDescriptors.MethodNotPartial, MethodLocation, MethodName, hasBody ? "; move the body to a method named '" + MethodName + NamingConventions.CoreSuffix + "'" : "");
        }
    }

    private EquatableArray<ContainingTypeModel> ContainingTypes()
    {
        int count = 0;
        for (SyntaxNode? node = _syntax.Parent; node is not null; node = node.Parent)
        {
            if (node is TypeDeclarationSyntax)
            {
                count++;
            }
        }

        // Outermost first; the walk (and the diagnostics) go from the innermost out.
        var types = new ContainingTypeModel[count];
        for (SyntaxNode? node = _syntax.Parent; node is not null; node = node.Parent)
        {
            if (node is not TypeDeclarationSyntax declaration)
            {
                continue;
            }

            if (!declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
            {
                Report(DiagnosticDescriptors.TypeNotPartial, At(declaration.Identifier.Span), declaration.Identifier.ValueText, MethodName, AttributeName);
            }

            string keyword = declaration switch
            {
                RecordDeclarationSyntax record => record.ClassOrStructKeyword.IsKind(SyntaxKind.StructKeyword) ? "record struct" : "record",
                StructDeclarationSyntax => "struct",
                InterfaceDeclarationSyntax => "interface",
                _ => "class",
            };
            string typeParameters = declaration.TypeParameterList is { } list
                ? "<" + string.Join(", ", list.Parameters.Select(p => (p.VarianceKeyword.IsKind(SyntaxKind.None) ? "" : p.VarianceKeyword.Text + " ") + p.Identifier.Text)) + ">"
                : "";
            types[--count] = new ContainingTypeModel(keyword, declaration.Identifier.Text, typeParameters);
        }

        return new EquatableArray<ContainingTypeModel>(types);
    }

    /// <summary>True for Task&lt;T&gt;/ValueTask&lt;T&gt;, false for Task/ValueTask, null (reported) otherwise.</summary>
    private bool? ReturnShape()
    {
        ITypeSymbol type = _method.ReturnType;
        if (!_method.ReturnsByRef && !_method.ReturnsByRefReadonly)
        {
            if (KnownTypes.Is(type, _known.Task) || KnownTypes.Is(type, _known.ValueTask))
            {
                return false;
            }

            if (KnownTypes.Is(type, _known.TaskOfT) || KnownTypes.Is(type, _known.ValueTaskOfT))
            {
                return true;
            }
        }

        if (type.TypeKind == TypeKind.Error)
        {
            return null;
        }

        string reason = _method.ReturnsVoid
            ? "the lock is released asynchronously, so callers must be able to await the call; return Task or ValueTask"
            : KnownTypes.Is(type, _known.AsyncEnumerable) || KnownTypes.Is(type, _known.AsyncEnumerator)
                ? "an async iterator would hold the lock between its yields while the caller decides when to go on; return Task<T> or ValueTask<T> of a complete result"
                : "only Task, Task<T>, ValueTask and ValueTask<T> are supported, because the lock is held until the returned task completes";
        Report(DiagnosticDescriptors.UnsupportedReturnType, At(_syntax.ReturnType.Span), MethodName, type.ToDisplayString(Symbols.MessageFormat), reason, AttributeName);
        return null;
    }

    /// <summary>False for <c>Task</c> (the only return type of an <c>[EtcdLeader]</c> method), null (reported) otherwise.</summary>
    private bool? LeaderReturnShape()
    {
        ITypeSymbol type = _method.ReturnType;
        if (!_method.ReturnsByRef && !_method.ReturnsByRefReadonly && KnownTypes.Is(type, _known.Task))
        {
            return false;
        }

        if (type.TypeKind != TypeKind.Error)
        {
            Report(DiagnosticDescriptors.LeaderReturnType, At(_syntax.ReturnType.Span), MethodName, type.ToDisplayString(Symbols.MessageFormat));
        }

        return null;
    }

    private void CheckParameters()
    {
        for (int i = 0; i < _method.Parameters.Length; i++)
        {
            IParameterSymbol parameter = _method.Parameters[i];
            string? reason = parameter.RefKind switch
            {
                RefKind.Ref => "passed by reference ('ref')",
                RefKind.Out => "an 'out' parameter",
                RefKind.In => "passed by reference ('in')",
                RefKind.None when parameter.Type.IsRefLikeType => $"of the ref struct type '{parameter.Type.ToDisplayString(Symbols.MessageFormat)}'",
                RefKind.None when parameter.Type.TypeKind is TypeKind.Pointer or TypeKind.FunctionPointer => $"of the pointer type '{parameter.Type.ToDisplayString(Symbols.MessageFormat)}'",
                RefKind.None => null,
                _ => "passed by reference",
            };
            if (reason is not null && i < _syntax.ParameterList.Parameters.Count)
            {
                Report(DiagnosticDescriptors.UnsupportedParameter, At(_syntax.ParameterList.Parameters[i].Span), parameter.Name, MethodName, reason);
            }
        }
    }

    private EquatableArray<KeyPart>? KeyParts(AttributeData attribute, AttributeSyntax? attributeSyntax)
    {
        ExpressionSyntax? expression = null;
        if (attributeSyntax?.ArgumentList is { } argumentList)
        {
            foreach (AttributeArgumentSyntax argument in argumentList.Arguments)
            {
                if (argument.NameEquals is null)
                {
                    expression = argument.Expression;
                    break;
                }
            }
        }

        if (attribute.ConstructorArguments.Length != 1 || expression is null)
        {
            // The compiler reports the malformed attribute.
            return null;
        }

        string? template = attribute.ConstructorArguments[0].Value as string;
        if (string.IsNullOrEmpty(template))
        {
            Report(DiagnosticDescriptors.EmptyTemplate, At(expression.Span), MethodName);
            return null;
        }

        _templateExpression = expression;
        _template = template;
        if (_kind is LockKind.Lock or LockKind.ReadLock or LockKind.WriteLock)
        {
            _templateUse = new KeyTemplateUse(_kind, template!, _method.ContainingType.Name + "." + MethodName, At(expression.Span));
        }
        if (template![0] != '/')
        {
            Report(DiagnosticDescriptors.TemplateWithoutSlash, At(Map.Map(0, template.Length)), template);
        }

        var parts = new List<KeyPart>();
        bool valid = true;
        string text;
        foreach (TemplateToken token in KeyTemplate.Tokenize(template))
        {
            switch (token.Kind)
            {
                case TemplateTokenKind.Literal:
                    parts.Add(new LiteralKeyPart(template.Substring(token.Start, token.Length)));
                    break;
                case TemplateTokenKind.Braces:
                    text = template.Substring(token.Start, token.Length);
                    Report(DiagnosticDescriptors.BracePlaceholder, At(Map.Map(token.Start, token.Length)), text.Substring(1, text.Length - 2));
                    valid = false;
                    break;
                case TemplateTokenKind.Unterminated:
                    text = template.Substring(token.Start, token.Length);
                    Report(DiagnosticDescriptors.MalformedPlaceholder, At(Map.Map(token.Start, token.Length)), text, "it has no closing '>'");
                    valid = false;
                    break;
                case TemplateTokenKind.Empty:
                    text = template.Substring(token.Start, token.Length);
                    Report(DiagnosticDescriptors.MalformedPlaceholder, At(Map.Map(token.Start, token.Length)), text, "it names nothing; write a parameter name such as '<id>'");
                    valid = false;
                    break;
                case TemplateTokenKind.InvalidName:
                    text = template.Substring(token.Start, token.Length);
                    Report(DiagnosticDescriptors.MalformedPlaceholder, At(Map.Map(token.Start, token.Length)), text, $"'{token.Segments[0]}' is not a parameter name or a member path such as 'order.CustomerId'");
                    valid = false;
                    break;
                default:
                    PlaceholderKeyPart? part = Placeholder(template, token);
                    if (part is null)
                    {
                        valid = false;
                    }
                    else
                    {
                        parts.Add(part);
                    }

                    break;
            }
        }

        return valid ? parts.ToEquatableArray() : null;
    }

    private PlaceholderKeyPart? Placeholder(string template, TemplateToken token)
    {
        string root = token.Segments[0];
        IParameterSymbol? parameter = null;
        foreach (IParameterSymbol candidate in _method.Parameters)
        {
            if (candidate.Name == root)
            {
                parameter = candidate;
                break;
            }
        }

        if (parameter is null)
        {
            LocationInfo rootLocation = At(Map.Map(token.SegmentStart(template, 0), token.SegmentLength(template, 0)));
            Report(DiagnosticDescriptors.UnknownPlaceholder, rootLocation, token.Path, MethodName, Suggestion(root));
            return null;
        }

        ITypeSymbol type = parameter.Type;
        MemberStep[] steps = token.Segments.Length == 1 ? System.Array.Empty<MemberStep>() : new MemberStep[token.Segments.Length - 1];
        string receiverPath = root;
        for (int i = 1; i < token.Segments.Length; i++)
        {
            if (i > 1)
            {
                receiverPath = receiverPath + "." + token.Segments[i - 1];
            }

            bool canBeNull = Symbols.CanBeNull(type);
            ITypeSymbol receiver = Symbols.Unwrapped(type);
            if (receiver.TypeKind == TypeKind.Error)
            {
                return null;
            }

            ISymbol? member = Symbols.FindMember(_compilation, receiver, token.Segments[i], _method.ContainingType);
            if (member is null)
            {
                LocationInfo memberLocation = At(Map.Map(token.SegmentStart(template, i), token.SegmentLength(template, i)));
                Report(DiagnosticDescriptors.MemberNotFound, memberLocation, token.Path, receiver.WithNullableAnnotation(NullableAnnotation.NotAnnotated).ToDisplayString(Symbols.MessageFormat), token.Segments[i]);
                return null;
            }

            steps[i - 1] = new MemberStep(Symbols.Escape(member.Name), canBeNull, receiverPath);
            type = member is IPropertySymbol property ? property.Type : ((IFieldSymbol)member).Type;
        }

        if (type.TypeKind == TypeKind.Error)
        {
            return null;
        }

        if (!Symbols.HasInvariantStringForm(type, _known.Formattable))
        {
            string hint = Symbols.Unwrapped(type) switch
            {
                ITypeParameterSymbol => " (constrain the type parameter, for example to IFormattable)",
                INamedTypeSymbol { IsRecord: true } => " (a record's generated ToString is not a stable key)",
                _ => "",
            };
            Report(DiagnosticDescriptors.PlaceholderType, At(Map.Map(token.Start + 1, token.Length - 2)), token.Path, type.ToDisplayString(Symbols.MessageFormat), hint);
            return null;
        }

        return new PlaceholderKeyPart(Symbols.Escape(parameter.Name), token.Path, new EquatableArray<MemberStep>(steps));
    }

    private string Suggestion(string name)
    {
        if (_method.Parameters.Length == 0)
        {
            return "; it has no parameters";
        }

        IParameterSymbol closest = _method.Parameters
            .OrderBy(p => EditDistance.Between(name.ToLowerInvariant(), p.Name.ToLowerInvariant()))
            .ThenBy(p => EditDistance.Between(name, p.Name))
            .First();
        int distance = EditDistance.Between(name.ToLowerInvariant(), closest.Name.ToLowerInvariant());
        if (distance < name.Length && distance <= System.Math.Max(2, name.Length / 3))
        {
            return $"; did you mean '<{closest.Name}>'?";
        }

        return "; its parameters are " + string.Join(", ", _method.Parameters.Select(p => "'" + p.Name + "'"));
    }

    private (int Ttl, int MaxCount, int Wait, int HoldAtLeast, BusyBehavior WhenBusy) Options(AttributeData attribute, AttributeSyntax? attributeSyntax)
    {
        int ttl = 0;
        int? maxCount = null;
        int? wait = null;
        int holdAtLeast = 0;
        BusyBehavior whenBusy = BusyBehavior.Throw;
        foreach (KeyValuePair<string, TypedConstant> argument in attribute.NamedArguments)
        {
            if (argument.Value.Value is not int value)
            {
                continue;
            }

            switch (argument.Key)
            {
                case "Ttl":
                    ttl = value;
                    if (value < 1)
                    {
                        Report(DiagnosticDescriptors.InvalidTtl, NamedArgumentLocation(attributeSyntax, argument.Key), value.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    }

                    break;
                case "WaitTimeoutMilliseconds":
                    wait = value;
                    if (value < -1)
                    {
                        Report(DiagnosticDescriptors.InvalidWaitTimeout, NamedArgumentLocation(attributeSyntax, argument.Key), value.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    }

                    break;
                case "WhenBusy":
                    whenBusy = (BusyBehavior)value;
                    break;
                case "MaxCount" when _kind == LockKind.Semaphore:
                    maxCount = value;
                    if (value < 1)
                    {
                        Report(DiagnosticDescriptors.InvalidMaxCount, NamedArgumentLocation(attributeSyntax, argument.Key, wholeArgument: true), "is " + value.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    }

                    break;
                case "HoldAtLeastMilliseconds":
                    // Every non-negative int is a whole number of seconds a lease TTL can hold (at most 2,147,484 s).
                    holdAtLeast = value;
                    if (value < 0)
                    {
                        Report(DiagnosticDescriptors.InvalidHoldAtLeast, NamedArgumentLocation(attributeSyntax, argument.Key), value.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    }

                    break;
            }
        }

        if (_kind == LockKind.Semaphore && maxCount is null)
        {
            // There is no sensible default ticket count: the attribute's name is where the argument is missing.
            Report(DiagnosticDescriptors.InvalidMaxCount, attributeSyntax is null ? MethodLocation : At(attributeSyntax.Name.Span), "is not set");
        }

        // Named arguments hold only what the attribute sets, so an omitted wait timeout is told apart from an explicit
        // -1: skip-when-busy then makes one attempt, because waiting for the holder and running the body after it
        // would run a "one node only" job on every node in turn. An explicit wait is kept as it is.
        return (ttl, maxCount ?? 0, wait ?? (whenBusy == BusyBehavior.Skip ? 0 : -1), holdAtLeast, whenBusy);
    }

    /// <summary>
    /// Where the attribute sets <paramref name="name"/>: its value, or with <paramref name="wholeArgument"/> the whole
    /// <c>Name = value</c> (the method's name when that is not found).
    /// </summary>
    private LocationInfo NamedArgumentLocation(AttributeSyntax? attributeSyntax, string name, bool wholeArgument = false)
    {
        if (attributeSyntax?.ArgumentList is { } argumentList)
        {
            foreach (AttributeArgumentSyntax argument in argumentList.Arguments)
            {
                if (argument.NameEquals?.Name.Identifier.ValueText == name)
                {
                    return At(wholeArgument ? argument.Span : argument.Expression.Span);
                }
            }
        }

        return At(_syntax.Identifier.Span);
    }

    private string? Provider()
    {
        INamedTypeSymbol? providerType = _known.EtcdLockProvider;
        if (providerType is null)
        {
            return null;
        }

        INamedTypeSymbol type = _method.ContainingType;
        ProviderCandidates candidates = _known.ProvidersOf(type, providerType, _cancellationToken);
        // The one usable member (the usual case), or all of them when there are several (for the message).
        ISymbol? first = null;
        List<ISymbol>? members = null;
        foreach (ISymbol member in candidates.Members)
        {
            if (!_method.IsStatic || member.IsStatic)
            {
                Add(member);
            }
        }

        if (first is null && !_method.IsStatic)
        {
            // A primary constructor parameter counts only when no field or property does: the usual
            // "private readonly IEtcdLockProvider _locks = locks;" then names one provider, not two.
            foreach (IParameterSymbol parameter in candidates.PrimaryParameters)
            {
                if (!HasParameterNamed(parameter.Name))
                {
                    Add(parameter);
                }
            }
        }

        if (first is null)
        {
            Report(DiagnosticDescriptors.ProviderMissing, MethodLocation, type.Name, _method.IsStatic ? "static " : "", MethodName);
            return null;
        }

        if (members is not null)
        {
            Report(DiagnosticDescriptors.ProviderAmbiguous, MethodLocation, type.Name, MethodName, string.Join(", ", members.Select(m => "'" + m.Name + "'")));
            return null;
        }

        ISymbol provider = first;
        string name = Symbols.Escape(provider.Name);
        if (provider is IParameterSymbol || !HasParameterNamed(provider.Name))
        {
            return name;
        }

        // A method parameter of the same name hides the member.
        return provider.IsStatic ? provider.ContainingType.ToDisplayString(Symbols.TypeFormat) + "." + name : "this." + name;

        void Add(ISymbol member)
        {
            if (first is null)
            {
                first = member;
            }
            else
            {
                (members ??= new List<ISymbol> { first }).Add(member);
            }
        }
    }

    private bool HasParameterNamed(string name)
    {
        foreach (IParameterSymbol parameter in _method.Parameters)
        {
            if (parameter.Name == name)
            {
                return true;
            }
        }

        return false;
    }

    private IMethodSymbol? Core()
    {
        IMethodSymbol? core = Symbols.FindCore(_method);
        if (core is not null)
        {
            return core;
        }

        string coreName = MethodName + NamingConventions.CoreSuffix;
        IMethodSymbol? closest = Symbols.CoreCandidates(_method)
            .OrderBy(c => c.Parameters.Length == _method.Parameters.Length ? 0 : 1)
            .FirstOrDefault();
        if (closest is null)
        {
            Report(DiagnosticDescriptors.CoreMissing, MethodLocation, MethodName, coreName);
            return null;
        }

        Location? coreLocation = closest.Locations.FirstOrDefault(l => l.IsInSource);
        Report(
            DiagnosticDescriptors.CoreMismatch,
            LocationInfo.From(coreLocation) ?? MethodLocation,
            coreName,
            MethodName,
            Symbols.CoreMismatch(_method, closest) ?? "it does not match",
            AttributeName);
        return null;
    }

    private string RenderParameter(IParameterSymbol parameter, string escapedName)
    {
        string type = _known.TypeName(parameter.Type);
        return parameter.IsParams ? "params " + type + " " + escapedName
            : parameter.Ordinal == 0 && _method.IsExtensionMethod ? "this " + type + " " + escapedName
            : type + " " + escapedName;
    }

    private string? RenderConstraints(ITypeParameterSymbol typeParameter)
    {
        var constraints = new List<string>();
        if (typeParameter.HasReferenceTypeConstraint)
        {
            constraints.Add(typeParameter.ReferenceTypeConstraintNullableAnnotation == NullableAnnotation.Annotated ? "class?" : "class");
        }
        else if (typeParameter.HasUnmanagedTypeConstraint)
        {
            constraints.Add("unmanaged");
        }
        else if (typeParameter.HasValueTypeConstraint)
        {
            constraints.Add("struct");
        }
        else if (typeParameter.HasNotNullConstraint)
        {
            constraints.Add("notnull");
        }

        foreach (ITypeSymbol constraintType in typeParameter.ConstraintTypes)
        {
            constraints.Add(_known.TypeName(constraintType));
        }

        if (typeParameter.HasConstructorConstraint)
        {
            constraints.Add("new()");
        }

        return constraints.Count == 0 ? null : "where " + Symbols.Escape(typeParameter.Name) + " : " + string.Join(", ", constraints);
    }
}
