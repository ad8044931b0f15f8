<?php
// One TCP connection to mega through a PHP stream, non-blocking after the connect: every
// wait is a stream_select() against a deadline (hrtime seconds), so connect, write and read
// each honour their timeout, and a pipelined batch can write and read at the same time.

declare(strict_types=1);

namespace Mega\Tcp;

use Mega\Exception\ConnectionException;
use Mega\Exception\TimeoutException;

final class Connection
{
    /** ETIMEDOUT on Linux, as stream_socket_client reports it in $errno. */
    private const ETIMEDOUT = 110;

    /** @var resource */
    private $stream;

    private function __construct($stream, private string $peer)
    {
        $this->stream = $stream;
    }

    public static function open(string $host, int $port, float $connectTimeout): self
    {
        $peer = (str_contains($host, ':') ? "[{$host}]" : $host) . ":{$port}";
        $context = stream_context_create(['socket' => ['tcp_nodelay' => true]]);
        $errno = 0;
        $errstr = '';
        $stream = @stream_socket_client("tcp://{$peer}", $errno, $errstr, $connectTimeout, STREAM_CLIENT_CONNECT, $context);
        if ($stream === false) {
            $why = $errstr !== '' ? $errstr : (error_get_last()['message'] ?? 'unknown error');
            if ($errno === self::ETIMEDOUT || stripos($why, 'timed out') !== false) {
                throw new TimeoutException("connect to mega at {$peer}: timed out after {$connectTimeout} s");
            }
            throw new ConnectionException("connect to mega at {$peer}: {$why}");
        }
        stream_set_blocking($stream, false);
        stream_set_read_buffer($stream, 0);
        stream_set_write_buffer($stream, 0);
        return new self($stream, $peer);
    }

    public function peer(): string
    {
        return $this->peer;
    }

    public function close(): void
    {
        if (is_resource($this->stream)) {
            fclose($this->stream);
        }
    }

    /** Writes what the socket takes now; returns the number of bytes written (maybe 0). */
    public function writeSome(string $bytes): int
    {
        $n = @fwrite($this->stream, $bytes);
        if ($n === false) {
            $why = error_get_last()['message'] ?? 'write failed';
            throw new ConnectionException("write to mega at {$this->peer}: {$why}");
        }
        return $n;
    }

    /** Reads what has arrived ('' if nothing yet); ConnectionException once mega has closed. */
    public function readSome(): string
    {
        $bytes = @fread($this->stream, 65536);
        if ($bytes === false || ($bytes === '' && feof($this->stream))) {
            throw new ConnectionException("mega at {$this->peer} closed the connection");
        }
        return $bytes;
    }

    /**
     * Waits until the socket is readable (and writable, when $write) or the deadline passes.
     * Returns [readable, writable]; both false means the deadline passed.
     */
    public function wait(bool $read, bool $write, float $deadline): array
    {
        while (true) {
            $left = max(0.0, $deadline - Clock::now());
            $r = $read ? [$this->stream] : [];
            $w = $write ? [$this->stream] : [];
            $e = [];
            $n = @stream_select($r, $w, $e, (int) $left, (int) (($left - (int) $left) * 1e6));
            if ($n === false) {  // EINTR (a signal): try again with what is left
                if (Clock::now() >= $deadline) {
                    return [false, false];
                }
                continue;
            }
            return [$r !== [], $w !== []];
        }
    }

    /** Writes all of $bytes by the deadline, else TimeoutException. */
    public function writeAll(string $bytes, float $deadline, float $timeout): void
    {
        while ($bytes !== '') {
            $n = $this->writeSome($bytes);
            $bytes = (string) substr($bytes, $n);
            if ($bytes !== '' && $n === 0 && !$this->wait(false, true, $deadline)[1]) {
                throw new TimeoutException("write to mega at {$this->peer}: timed out after {$timeout} s");
            }
        }
    }
}
