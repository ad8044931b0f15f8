<?php
// The TCP client: mega's wire protocol (the original Mega-Wechat protocol plus mega's
// extension words). Blocking push/send/tset wait for their own reply; batch() pipelines many
// requests on one connection and matches replies by opaque. Every wait has a timeout. A
// connection that mega closed while idle (restart, idle_timeout_s) is replaced before the
// next request; a request whose reply was lost is sent again only when that is safe (tset,
// or a message with a msgkey, which mega deduplicates).

declare(strict_types=1);

namespace Mega\Tcp;

use Mega\Exception\ConnectionException;
use Mega\Exception\InvalidMessageException;
use Mega\Exception\RejectedException;
use Mega\Exception\TimeoutException;
use Mega\Message;
use Mega\Protocol\Frame;
use Mega\Protocol\FrameDecoder;
use Mega\Protocol\Reply;
use Mega\Sender;

final class Client implements Sender
{
    private const DEFAULTS = [
        'connect_timeout' => 5.0,    // seconds for one connection attempt
        'timeout' => 30.0,           // seconds to wait for a reply (a send waits for WeChat)
        'reconnect_attempts' => 3,   // connection attempts when there is none, or it was lost
        'reconnect_delay' => 0.1,    // seconds before the second attempt, doubled after each
        'window' => 256,             // pipelined requests in flight at most
        'max_frame_bytes' => Frame::DEFAULT_MAX_BYTES,
    ];

    private array $options;
    private ?Connection $connection = null;
    private FrameDecoder $decoder;
    private int $nextOpaque = 1;
    private int $connects = 0;
    private int $strayReplies = 0;

    /**
     * @param array $options connect_timeout, timeout, reconnect_attempts, reconnect_delay
     *                       (seconds or counts, see DEFAULTS), window, max_frame_bytes
     */
    public function __construct(private string $host = '127.0.0.1', private int $port = 9501, array $options = [])
    {
        $unknown = array_diff_key($options, self::DEFAULTS);
        if ($unknown) {
            throw new \InvalidArgumentException('unknown option(s): ' . implode(', ', array_keys($unknown)));
        }
        $this->options = $options + self::DEFAULTS;
        if (in_array($this->host, ['', '0.0.0.0', '*'], true)) {
            $this->host = '127.0.0.1';  // a server's wildcard listen address means this machine
        } elseif ($this->host === '::') {
            $this->host = '::1';
        }
        $this->decoder = new FrameDecoder($this->options['max_frame_bytes']);
    }

    /** From "host:port" or "[v6addr]:port" (mega's listen[] syntax). */
    public static function fromAddress(string $address, array $options = []): self
    {
        if (!preg_match('/^(?:\[([^\]]*)\]|([^:\[\]]*)):([0-9]{1,5})$/', $address, $m) || (int) $m[3] < 1 || (int) $m[3] > 65535) {
            throw new \InvalidArgumentException("bad address '{$address}' (want host:port or [v6addr]:port)");
        }
        return new self($m[1] !== '' ? $m[1] : $m[2], (int) $m[3], $options);
    }

    public function __destruct()
    {
        $this->close();
    }

    /** Connects now (the calls connect on demand anyway). */
    public function connect(): void
    {
        $this->ensureConnected();
    }

    public function close(): void
    {
        $this->connection?->close();
        $this->connection = null;
        $this->decoder = new FrameDecoder($this->options['max_frame_bytes']);
    }

    public function isConnected(): bool
    {
        return $this->connection !== null;
    }

    /** Connections made so far, the first included. */
    public function connects(): int
    {
        return $this->connects;
    }

    /** Replies that matched no waiting request. */
    public function strayReplies(): int
    {
        return $this->strayReplies;
    }

    /**
     * Queues a template message; returns once mega has written it to its queue.
     * $options: priority, delay, at, msgkey, tries, source (see Message).
     */
    public function push(string $openid, string $key, array|object|null $data = null, array $options = []): Reply
    {
        return $this->submit(self::message($openid, $key, $data, $options));
    }

    /** Sends now and waits for WeChat's answer (after mega's retries); 400 carries WeChat's JSON. */
    public function send(string $openid, string $key, array|object|null $data = null, array $options = []): Reply
    {
        return $this->sendMessage(self::message($openid, $key, $data, $options));
    }

    /** Makes mega reload template $key from MySQL. */
    public function tset(string $key): Reply
    {
        Message::checkWord('template key', $key);
        return $this->call(fn (int $opaque) => Frame::tset($key, $opaque), "tset {$key}", true);
    }

    /** push, for a Message. A duplicate msgkey is a 200 reply with isDuplicate(). */
    public function submit(Message $message): Reply
    {
        [$encode, $what, $safe] = $this->encoder('push', $message);
        return $this->call($encode, $what, $safe);
    }

    /** send, for a Message. */
    public function sendMessage(Message $message): Reply
    {
        [$encode, $what, $safe] = $this->encoder('send', $message);
        return $this->call($encode, $what, $safe);
    }

    /** A pipelined batch on this connection: add requests, then run() it. */
    public function batch(): Batch
    {
        return new Batch($this);
    }

    /**
     * Pushes every message pipelined; returns their replies in the same order (a reply with
     * code 0 carries the transport error of a request whose reply was lost).
     *
     * @param iterable<Message> $messages
     * @return list<Reply>
     */
    public function pushMany(iterable $messages): array
    {
        $batch = $this->batch();
        foreach ($messages as $message) {
            $batch->add('push', $message);
        }
        return $batch->run();
    }

    /**
     * Runs requests pipelined, at most `window` in flight. Each request is
     * [command, ?Message, key]. Called by Batch::run().
     *
     * @return list<Reply>
     */
    public function runPipelined(array $requests): array
    {
        $encoders = [];
        foreach ($requests as $i => [$command, $message, $key]) {
            $encoders[$i] = $command === 'tset'
                ? [fn (int $o) => Frame::tset($key, $o), "tset {$key}", true]
                : $this->encoder($command, $message);
        }
        $results = [];
        $todo = array_keys($encoders);
        for ($round = 1; $todo !== []; ++$round) {
            try {
                $this->ensureConnected();
            } catch (ConnectionException $e) {
                return self::ordered($results + array_fill_keys($todo, new Reply(0, $e->getMessage(), 0, $e)));
            }
            $pipeline = new Pipeline($this->connection, $this->decoder, (int) $this->options['window'], (float) $this->options['timeout'], fn () => $this->opaque());
            try {
                $pipeline->run($todo, $encoders, $results);
                $this->strayReplies += $pipeline->strays();
                break;
            } catch (ConnectionException $e) {
                $this->strayReplies += $pipeline->strays();
                $this->close();
                // Lost replies: a request never written goes again, a written one only if
                // mega drops a second copy (tset, msgkey); never after a timeout.
                $retry = [];
                foreach ($todo as $i) {
                    if (isset($results[$i])) {
                        continue;
                    }
                    $again = !$e instanceof TimeoutException && $round <= $this->options['reconnect_attempts']
                        && ($encoders[$i][2] || !$pipeline->wasWritten($i));
                    if ($again) {
                        $retry[] = $i;
                    } else {
                        $results[$i] = new Reply(0, $e->getMessage(), 0, $e);
                    }
                }
                $todo = $retry;
            }
        }
        return self::ordered($results);
    }

    private static function ordered(array $results): array
    {
        ksort($results);
        return array_values($results);
    }

    private static function message(string $openid, string $key, array|object|null $data, array $options): Message
    {
        return Message::fromArray(['key' => $key, 'openid' => $openid, 'data' => $data] + $options);
    }

    /** [fn(opaque) => frame bytes, description, safe to send twice]; encodes the body now. */
    private function encoder(string $command, Message $message): array
    {
        $openid = $message->openid();
        if ($openid === null) {
            throw new InvalidMessageException("{$command} of '{$message->key()}' needs an openid");
        }
        $body = $message->body();
        $words = $message->headerWords();
        $key = $message->key();
        $frame = fn (int $opaque) => Frame::request($command, $openid, $key, $opaque, $body, $words);
        if (strlen($frame(1)) > $this->options['max_frame_bytes']) {
            throw new InvalidMessageException("{$command} {$openid} {$key}: the frame exceeds the limit of {$this->options['max_frame_bytes']} bytes");
        }
        return [$frame, "{$command} {$openid} {$key}", $message->getMsgkey() !== null];
    }

    /** One request, one reply; throws RejectedException unless the reply is 200. */
    private function call(\Closure $encode, string $what, bool $safeToRepeat): Reply
    {
        for ($attempt = 1;; ++$attempt) {
            $this->ensureConnected();
            $opaque = $this->opaque();
            $timeout = (float) $this->options['timeout'];
            $deadline = Clock::now() + $timeout;
            try {
                $this->connection->writeAll($encode($opaque), $deadline, $timeout);
                $reply = $this->awaitReply($opaque, $deadline, $timeout);
            } catch (ConnectionException $e) {
                $this->close();
                if ($e instanceof TimeoutException || !$safeToRepeat || $attempt > $this->options['reconnect_attempts']) {
                    throw $e;
                }
                continue;
            }
            if ($reply->code !== 200) {
                throw new RejectedException($reply, $what);
            }
            return $reply;
        }
    }

    private function awaitReply(int $opaque, float $deadline, float $timeout): Reply
    {
        while (true) {
            while (($reply = $this->decoder->next()) !== null) {
                if ($reply->opaque === $opaque) {
                    return $reply;
                }
                if ($reply->opaque === 0 && $reply->code !== 200) {
                    return $reply;  // mega refused the stream (and closes it)
                }
                ++$this->strayReplies;
            }
            if (!$this->connection->wait(true, false, $deadline)[0]) {
                throw new TimeoutException("no reply from mega at {$this->connection->peer()} within {$timeout} s");
            }
            $this->decoder->feed($this->connection->readSome());
        }
    }

    /** A live connection: the current one unless mega closed it, else a new one (with retries). */
    private function ensureConnected(): void
    {
        if ($this->connection !== null) {
            try {
                if ($this->connection->wait(true, false, 0.0)[0]) {
                    $this->decoder->feed($this->connection->readSome());
                }
                return;
            } catch (ConnectionException) {
                $this->close();  // closed while idle: nothing was lost, connect again
            }
        }
        $delay = (float) $this->options['reconnect_delay'];
        for ($attempt = 1;; ++$attempt) {
            try {
                $this->connection = Connection::open($this->host, $this->port, (float) $this->options['connect_timeout']);
                ++$this->connects;
                return;
            } catch (ConnectionException $e) {
                if ($attempt >= max(1, (int) $this->options['reconnect_attempts'])) {
                    throw $e;
                }
                usleep((int) ($delay * 1e6));  // backoff between attempts to reach mega
                $delay *= 2;
            }
        }
    }

    private function opaque(): int
    {
        $o = $this->nextOpaque;
        $this->nextOpaque = $o >= 0xFFFFFFFF ? 1 : $o + 1;  // 0 is what mega uses for its errors
        return $o;
    }
}
