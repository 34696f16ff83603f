using System.Diagnostics;

namespace AttributeLock.Benchmarks;

/// <summary>
/// Records hand-offs: from one holder's release (the end of its body) to the next holder's acquire (the start of
/// the next body). Called only inside the lock, so calls never overlap; an overlap would show as a negative sample.
/// </summary>
public sealed class HandOffRecorder
{
    private readonly long[] _samples = new long[1 << 20];
    private int _count;
    private long _lastRelease;
    private int _inside;
    private int _maxInside;
    private volatile bool _recording;

    public void Start()
    {
        Volatile.Write(ref _lastRelease, 0);
        _count = 0;
        _recording = true;
    }

    public void Stop() => _recording = false;

    public void Acquired()
    {
        long now = Stopwatch.GetTimestamp();
        int inside = Interlocked.Increment(ref _inside);
        if (inside > _maxInside)
        {
            _maxInside = inside;
        }

        long last = Volatile.Read(ref _lastRelease);
        if (_recording && last != 0 && _count < _samples.Length)
        {
            _samples[_count++] = now - last;
        }
    }

    public void Released()
    {
        Interlocked.Decrement(ref _inside);
        Volatile.Write(ref _lastRelease, _recording ? Stopwatch.GetTimestamp() : 0);
    }

    /// <summary>Most holders seen inside at once: 1 unless mutual exclusion broke.</summary>
    public int MaxInside => _maxInside;

    public double[] SamplesMs() => _samples.Take(_count).Select(t => t * 1000.0 / Stopwatch.Frequency).ToArray();
}
