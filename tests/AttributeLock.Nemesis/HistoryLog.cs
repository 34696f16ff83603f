using System.Globalization;
using System.Runtime.InteropServices;
using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace AttributeLock.Nemesis;

/// <summary>
/// etcd's history, dumped in pieces: every event from revision 2 on, read by a watch from the first revision not dumped
/// yet. The nemesis compacts only at a revision it has dumped up to, so nothing is lost to compaction.
/// </summary>
internal sealed class HistoryLog(EtcdClient client, string path) : IDisposable
{
    private readonly StreamWriter _output = new(path);
    private readonly SemaphoreSlim _gate = new(1);
    private long _dumpedTo = 1;

    public async Task DumpToAsync(long head)
    {
        await _gate.WaitAsync();
        try
        {
            if (head <= _dumpedTo)
            {
                return;
            }

            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            using AsyncDuplexStreamingCall<WatchRequest, WatchResponse> call = client.GetConnection().WatchClient.Watch(cancellationToken: cts.Token);
            await call.RequestStream.WriteAsync(new WatchRequest
            {
                CreateRequest = new WatchCreateRequest { Key = ByteString.CopyFrom(0), RangeEnd = ByteString.CopyFrom(0), StartRevision = _dumpedTo + 1 },
            });
            while (await call.ResponseStream.MoveNext(cts.Token))
            {
                WatchResponse response = call.ResponseStream.Current;
                if (response.Canceled || response.CompactRevision != 0)
                {
                    throw new InvalidOperationException($"history watch from {_dumpedTo + 1} cancelled (compacted at {response.CompactRevision}): {response.CancelReason}");
                }

                foreach (Mvccpb.Event e in response.Events)
                {
                    _output.WriteLine(Json.Line(new HistoryEvent
                    {
                        Rev = e.Kv.ModRevision,
                        Type = e.Type == Mvccpb.Event.Types.EventType.Put ? "put" : "delete",
                        Key = e.Kv.Key.ToStringUtf8(),
                        Value = e.Kv.Value.ToStringUtf8(),
                        CreateRev = e.Kv.CreateRevision,
                        Lease = e.Kv.Lease,
                    }));
                    _dumpedTo = Math.Max(_dumpedTo, e.Kv.ModRevision);
                }

                if (_dumpedTo >= head)
                {
                    break;
                }
            }

            await call.RequestStream.CompleteAsync();
            await _output.FlushAsync();
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        _output.Dispose();
        _gate.Dispose();
    }
}
