<?php
// The TCP client on the wire, against a listener in this process: the client's first two
// pushes write exactly the original's golden frames; replies that come out of order are
// matched by opaque; a connect to a listener whose backlog is full and a reply that never
// comes end in TimeoutException (and the connection is dropped). Replies are written before
// the call that reads them, so the blocking client never waits on this single thread.

declare(strict_types=1);

namespace Mega\Tests\Unit;

use Mega\Exception\RejectedException;
use Mega\Exception\TimeoutException;
use Mega\Protocol\Frame;
use Mega\Tcp\Client;
use PHPUnit\Framework\TestCase;

final class ClientWireTest extends TestCase
{
    /** @var resource */
    private $server;
    private int $port;

    protected function setUp(): void
    {
        $this->server = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr, STREAM_SERVER_BIND | STREAM_SERVER_LISTEN, stream_context_create(['socket' => ['backlog' => 0]]));
        $this->assertNotFalse($this->server, $errstr);
        $this->port = (int) substr(strrchr(stream_socket_get_name($this->server, false), ':'), 1);
    }

    protected function tearDown(): void
    {
        fclose($this->server);
    }

    private function accept()
    {
        $peer = stream_socket_accept($this->server, 5);
        $this->assertNotFalse($peer);
        return $peer;
    }

    /** Reads exactly $n bytes from $peer. */
    private static function readBytes($peer, int $n): string
    {
        $got = '';
        while (strlen($got) < $n && !feof($peer)) {
            $got .= fread($peer, $n - strlen($got));
        }
        return $got;
    }

    private static function golden(string $name): string
    {
        return file_get_contents(GoldenFramesTest::goldenDir() . "/{$name}.bin");
    }

    public function testFirstPushesWriteTheOriginalsBytes(): void
    {
        $client = new Client('127.0.0.1', $this->port);
        $client->connect();
        $peer = $this->accept();

        fwrite($peer, self::golden('result_ok'));  // opaque 1: the client's first request
        $reply = $client->push('oTestOpenid0001', 'order_paid', ['product' => 'chocolate', 'price' => '39.8']);
        $this->assertTrue($reply->ok());
        $want = self::golden('push_basic');
        $this->assertSame(bin2hex($want), bin2hex(self::readBytes($peer, strlen($want))));

        fwrite($peer, self::golden('result_bad'));  // opaque 2: "template key not exists"
        try {
            $client->push('oTestOpenid0002', 'order_paid');
            $this->fail('a 400 reply must throw');
        } catch (RejectedException $e) {
            $this->assertSame([400, 'template key not exists'], [$e->getReplyCode(), $e->getReplyMessage()]);
        }
        $want = self::golden('push_nodata');
        $this->assertSame(bin2hex($want), bin2hex(self::readBytes($peer, strlen($want))));
        $this->assertSame(0, $client->strayReplies());
    }

    public function testBatchMatchesRepliesByOpaqueWhateverTheirOrder(): void
    {
        $client = new Client('127.0.0.1', $this->port);
        $client->connect();
        $peer = $this->accept();
        $n = 20;
        for ($opaque = $n; $opaque >= 1; --$opaque) {  // the replies of a fresh client's opaques 1..n, last first
            fwrite($peer, Frame::result($opaque % 3 === 0 ? 400 : 200, $opaque, $opaque % 3 === 0 ? "refused {$opaque}" : ''));
        }
        $batch = $client->batch();
        $expected = '';
        for ($i = 1; $i <= $n; ++$i) {
            $batch->push("oBatch{$i}", 'order_paid', ['i' => $i], ['msgkey' => "b-{$i}"]);
            $expected .= Frame::request('push', "oBatch{$i}", 'order_paid', $i, json_encode(['i' => $i]), "msgkey=b-{$i}");
        }
        $replies = $batch->run();
        $this->assertCount($n, $replies);
        foreach ($replies as $index => $reply) {
            $opaque = $index + 1;
            $this->assertSame($opaque, $reply->opaque);
            $this->assertSame($opaque % 3 === 0 ? [400, "refused {$opaque}"] : [200, ''], [$reply->code, $reply->message]);
        }
        $this->assertSame(bin2hex($expected), bin2hex(self::readBytes($peer, strlen($expected))));
        $this->assertSame(0, $client->strayReplies());
    }

    public function testReplyTimeoutDropsTheConnection(): void
    {
        $client = new Client('127.0.0.1', $this->port, ['timeout' => 0.2]);
        $client->connect();
        $peer = $this->accept();  // accepted, never answered
        try {
            $client->push('oSilent', 'order_paid');
            $this->fail('no reply must time out');
        } catch (TimeoutException $e) {
            $this->assertStringContainsString('no reply', $e->getMessage());
        }
        $this->assertFalse($client->isConnected());
        // the peer got the request, then the end of the stream
        $this->assertSame(bin2hex(Frame::request('push', 'oSilent', 'order_paid', 1, 'null')), bin2hex(stream_get_contents($peer)));
    }

    public function testConnectTimeoutWhenTheBacklogIsFull(): void
    {
        // Backlog 0 takes one pending connection; further SYNs are dropped, so a connect hangs.
        $fillers = [];
        for ($i = 0; $i < 3; ++$i) {
            $fillers[] = stream_socket_client("tcp://127.0.0.1:{$this->port}", $errno, $errstr, 1, STREAM_CLIENT_CONNECT | STREAM_CLIENT_ASYNC_CONNECT);
        }
        $client = new Client('127.0.0.1', $this->port, ['connect_timeout' => 0.3, 'reconnect_attempts' => 1]);
        $this->expectException(TimeoutException::class);
        $this->expectExceptionMessage('timed out');
        try {
            $client->connect();
        } finally {
            array_map('fclose', array_filter($fillers));
        }
    }
}
