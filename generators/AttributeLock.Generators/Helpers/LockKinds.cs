using System.Collections.Immutable;
using AttributeLock.Generators.Models;
using Microsoft.CodeAnalysis;

namespace AttributeLock.Generators.Helpers;

/// <summary>The coordination attributes: their metadata names, their names in messages, and how to recognize them.</summary>
internal static class LockKinds
{
    /// <summary>Every kind, in the order the generator sets up its pipelines.</summary>
    public static readonly ImmutableArray<LockKind> All = ImmutableArray.Create(LockKind.Lock, LockKind.Semaphore, LockKind.ReadLock, LockKind.WriteLock, LockKind.Leader);

    /// <summary>The attribute's metadata name, e.g. <c>AttributeLock.EtcdSemaphoreAttribute</c>.</summary>
    public static string MetadataName(LockKind kind) => "AttributeLock." + TypeName(kind);

    /// <summary>The attribute as written in code and messages, e.g. <c>EtcdSemaphore</c>.</summary>
    public static string DisplayName(LockKind kind) => kind switch
    {
        LockKind.Semaphore => "EtcdSemaphore",
        LockKind.ReadLock => "EtcdReadLock",
        LockKind.WriteLock => "EtcdWriteLock",
        LockKind.Leader => "EtcdLeader",
        _ => "EtcdLock",
    };

    /// <summary>The runtime method the wrapper calls, e.g. <c>EnterSemaphoreAsync</c>.</summary>
    public static string EntryPoint(LockKind kind) => kind switch
    {
        LockKind.Semaphore => "EnterSemaphoreAsync",
        LockKind.ReadLock => "EnterReadLockAsync",
        LockKind.WriteLock => "EnterWriteLockAsync",
        LockKind.Leader => "LeadAsync",
        _ => "EnterAsync",
    };

    /// <summary>The kind of <paramref name="attributeClass"/>, or <c>null</c> when it is no coordination attribute.</summary>
    public static LockKind? Of(INamedTypeSymbol? attributeClass)
    {
        if (attributeClass is not { ContainingNamespace: { Name: "AttributeLock", ContainingNamespace.IsGlobalNamespace: true } })
        {
            return null;
        }

        return attributeClass.Name switch
        {
            "EtcdLockAttribute" => LockKind.Lock,
            "EtcdSemaphoreAttribute" => LockKind.Semaphore,
            "EtcdReadLockAttribute" => LockKind.ReadLock,
            "EtcdWriteLockAttribute" => LockKind.WriteLock,
            "EtcdLeaderAttribute" => LockKind.Leader,
            _ => null,
        };
    }

    /// <summary>The first coordination attribute of <paramref name="method"/> and its kind, or <c>null</c>.</summary>
    public static (AttributeData Attribute, LockKind Kind)? First(IMethodSymbol method)
    {
        foreach (AttributeData attribute in method.GetAttributes())
        {
            if (Of(attribute.AttributeClass) is { } kind)
            {
                return (attribute, kind);
            }
        }

        return null;
    }

    private static string TypeName(LockKind kind) => DisplayName(kind) + "Attribute";
}
