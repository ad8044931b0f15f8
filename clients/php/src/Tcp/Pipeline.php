<?php
// One pipelined run on one connection: keeps up to `window` requests in flight, writes and
// reads in the same select loop (so neither side's buffers can deadlock), and files each
// reply under the request whose opaque it carries, in whatever order replies come. It
// remembers how far the bytes got, so the client knows which lost requests were never sent.

declare(strict_types=1);

namespace Mega\Tcp;

use Mega\Exception\ConnectionException;
use Mega\Exception\TimeoutException;
use Mega\Protocol\FrameDecoder;

final class Pipeline
{
    /** @var array<int,int> opaque => request index */
    private array $inflight = [];
    /** @var array<int,int> request index => where its frame starts in the bytes of this run */
    private array $start = [];
    private string $out = '';
    private int $encoded = 0;
    private int $written = 0;
    private int $strays = 0;

    public function __construct(
        private Connection $connection,
        private FrameDecoder $decoder,
        private int $window,
        private float $timeout,
        private \Closure $nextOpaque
    ) {
        $this->window = max(1, $window);
    }

    /**
     * Runs the requests $todo (indexes into $encoders, each [fn(opaque) => frame, …]) and puts
     * each reply into $results[index]. Throws ConnectionException (TimeoutException when no
     * progress is made for `timeout` seconds) with the unanswered ones missing from $results.
     */
    public function run(array $todo, array $encoders, array &$results): void
    {
        $next = 0;
        $deadline = Clock::now() + $this->timeout;
        while ($next < count($todo) || $this->inflight !== []) {
            while ($next < count($todo) && count($this->inflight) < $this->window) {
                $this->enqueue($todo[$next++], $encoders);
            }
            if ($this->takeReplies($results)) {
                $deadline = Clock::now() + $this->timeout;
                continue;
            }
            [$readable, $writable] = $this->connection->wait(true, $this->out !== '', $deadline);
            if (!$readable && !$writable) {
                throw new TimeoutException(count($this->inflight) . " requests got no reply from mega at {$this->connection->peer()} within {$this->timeout} s");
            }
            if ($writable) {
                $n = $this->connection->writeSome($this->out);
                $this->out = (string) substr($this->out, $n);
                $this->written += $n;
            }
            if ($readable) {
                $this->decoder->feed($this->connection->readSome());
            }
        }
    }

    /** True if any byte of request $index reached the socket. */
    public function wasWritten(int $index): bool
    {
        return isset($this->start[$index]) && $this->start[$index] < $this->written;
    }

    /** Replies that matched no request in flight. */
    public function strays(): int
    {
        return $this->strays;
    }

    private function enqueue(int $index, array $encoders): void
    {
        do {
            $opaque = ($this->nextOpaque)();
        } while (isset($this->inflight[$opaque]));
        $frame = $encoders[$index][0]($opaque);
        $this->inflight[$opaque] = $index;
        $this->start[$index] = $this->encoded;
        $this->encoded += strlen($frame);
        $this->out .= $frame;
    }

    /** Files every decoded reply; true if any answered a request. */
    private function takeReplies(array &$results): bool
    {
        $progress = false;
        while (($reply = $this->decoder->next()) !== null) {
            if (isset($this->inflight[$reply->opaque])) {
                $results[$this->inflight[$reply->opaque]] = $reply;
                unset($this->inflight[$reply->opaque]);
                $progress = true;
            } elseif ($reply->opaque === 0 && $reply->code !== 200) {
                throw new ConnectionException("mega at {$this->connection->peer()} refused the request stream: {$reply->code} {$reply->message}");
            } else {
                ++$this->strays;
            }
        }
        return $progress;
    }
}
