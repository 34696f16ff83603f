namespace AttributeLock;

/// <summary>
/// The locks held by the current async flow, for reentrancy and <see cref="EtcdLockContext.Current"/>.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item>The flow's state is an immutable chain of <see cref="Node"/>s in an <see cref="AsyncLocal{T}"/>. A node is
/// pushed by the synchronous part of an acquire and popped by the synchronous part of the handle's DisposeAsync, so
/// both changes land in the caller's execution context (an <c>async</c> method would undo them on return).</item>
/// <item>A node counts as held only between a successful acquire (<see cref="Node.Handle"/> set) and its disposal
/// (<see cref="Node.Done"/>). A failed or abandoned acquire marks its node done; done nodes at the head of the chain
/// are skipped when the next node is pushed, so repeated failures in one flow do not grow the chain.</item>
/// <item>Tasks started inside a hold inherit the chain and so are treated as the same flow: they get nested handles.
/// Nested holders are not mutually exclusive with each other; they all run under the one outer hold.</item>
/// </list>
/// </remarks>
internal static class HeldLocks
{
    private static readonly AsyncLocal<Node?> s_head = new();

    internal sealed class Node
    {
        public Node(object owner, string key, Node? parent)
        {
            Owner = owner;
            Key = key;
            Parent = parent;
        }

        public object Owner { get; }
        public string Key { get; }
        public Node? Parent { get; }
        public volatile EtcdLockHandle? Handle;
        public volatile bool Done;
        public bool IsHeld => Handle is not null && !Done;
    }

    /// <summary>The hold of <paramref name="key"/> by <paramref name="owner"/> in this flow, if any.</summary>
    public static LockHold? Find(object owner, string key)
    {
        for (Node? n = s_head.Value; n is not null; n = n.Parent)
        {
            if (n.IsHeld && ReferenceEquals(n.Owner, owner) && n.Key == key)
            {
                return n.Handle!.Hold;
            }
        }

        return null;
    }

    /// <summary>Records a pending acquire in the caller's flow; must run in the synchronous part of the call.</summary>
    public static Node Push(object owner, string key)
    {
        Node? parent = s_head.Value;
        while (parent is not null && parent.Done)
        {
            parent = parent.Parent;
        }

        var node = new Node(owner, key, parent);
        s_head.Value = node;
        return node;
    }

    /// <summary>Ends a hold's node; runs in the synchronous part of DisposeAsync, in the caller's flow.</summary>
    public static void Pop(EtcdLockHandle handle)
    {
        Node? head = s_head.Value;
        for (Node? n = head; n is not null; n = n.Parent)
        {
            if (ReferenceEquals(n.Handle, handle))
            {
                n.Done = true;
                break;
            }
        }

        // Restore the head to the nearest live node so the chain does not keep finished holds alive.
        while (head is not null && head.Done)
        {
            head = head.Parent;
        }

        if (!ReferenceEquals(head, s_head.Value))
        {
            s_head.Value = head;
        }

    }

    public static EtcdLockHandle? Innermost()
    {
        for (Node? n = s_head.Value; n is not null; n = n.Parent)
        {
            if (n.IsHeld)
            {
                return n.Handle;
            }
        }

        return null;
    }
}
