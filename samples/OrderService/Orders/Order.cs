namespace OrderService.Orders;

/// <summary>An order of a customer; the amount is in cents.</summary>
/// <param name="Id">The order number.</param>
/// <param name="CustomerId">The customer who placed it, for example <c>C2</c>.</param>
/// <param name="AmountCents">What the customer pays.</param>
public sealed record Order(int Id, string CustomerId, long AmountCents);

/// <summary>The sample's fixed order book: order <c>n</c> belongs to customer <c>C((n-1) mod customers + 1)</c>.</summary>
/// <param name="customers">How many customers share the orders.</param>
public sealed class OrderCatalog(int customers)
{
    /// <summary>How many customers share the orders.</summary>
    public int Customers { get; } = customers > 0 ? customers : throw new ArgumentOutOfRangeException(nameof(customers), customers, "At least one customer.");

    /// <summary>The order with the number <paramref name="orderId"/>.</summary>
    /// <param name="orderId">A positive order number.</param>
    /// <returns>The order.</returns>
    public Order Get(int orderId) => new(orderId, $"C{((orderId - 1) % Customers) + 1}", 1_000 + (25 * orderId));
}
