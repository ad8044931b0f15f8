<?php
// The TCP client against a real mega (and fake-wechat behind it): push, send (delivered, and
// refused with WeChat's error), tset, the extension words and a duplicate msgkey, an unknown
// template key, a pipelined batch of 500 and a mixed one, a reply timeout on a slow WeChat,
// and reconnecting after mega closed an idle connection and after mega restarted.

declare(strict_types=1);

namespace Mega\Tests\Integration;

use Mega\Exception\RejectedException;
use Mega\Exception\TimeoutException;
use Mega\Message;

final class TcpClientTest extends MegaTestCase
{
    public function testPushIsQueuedAndDelivered(): void
    {
        $openid = self::openid('Push');
        $reply = $this->client()->push($openid, 'order_paid', ['product' => '巧克力', 'price' => '39.8']);
        $this->assertSame([200, ''], [$reply->code, $reply->message]);
        self::expectDelivered($openid);
    }

    public function testSendWaitsForWechat(): void
    {
        $openid = self::openid('Send');
        $this->assertTrue($this->client()->send($openid, 'order_paid', ['product' => 'tea', 'price' => '1'])->ok());
        self::expectDelivered($openid);
    }

    public function testRefusedSendCarriesWechatsError(): void
    {
        $openid = self::openid('Refused');
        self::configureFake(['fail_openids' => [$openid => 43004]]);
        try {
            $this->client()->send($openid, 'order_paid', ['product' => 'tea']);
            $this->fail('WeChat refused: the send must throw');
        } catch (RejectedException $e) {
            $this->assertSame(400, $e->getReplyCode());
            $this->assertSame([43004, $openid], [$e->getWechatError()['errcode'], $e->getWechatError()['openid']]);
        } finally {
            self::configureFake(['fail_openids' => new \stdClass()]);
        }
    }

    public function testUnknownTemplateKeyIsRefused(): void
    {
        $this->expectException(RejectedException::class);
        $this->expectExceptionMessage('template key not exists');
        $this->client()->push(self::openid('NoKey'), 'no_such_template', ['a' => 'b']);
    }

    public function testTsetReloads(): void
    {
        $this->assertTrue($this->client()->tset('order_paid')->ok());
    }

    public function testExtensionWordsAndDuplicateMsgkey(): void
    {
        $client = $this->client();
        $openid = self::openid('Options');
        $message = Message::make('order_paid', $openid, ['product' => 'gift'])
            ->priority('high')->tries(2)->source('php-tests')->msgkey("php-{$openid}");
        $first = $client->submit($message);
        $this->assertTrue($first->ok());
        $this->assertFalse($first->isDuplicate());
        $again = $client->submit($message);
        $this->assertTrue($again->isDuplicate(), 'the same msgkey again is a duplicate');
        $this->assertTrue($client->push(self::openid('Later'), 'order_paid', null, ['delay' => 3600, 'priority' => 'low'])->ok());
        self::expectDelivered($openid);
    }

    public function testPipelinedBatchOf500(): void
    {
        $client = $this->client(['window' => 64]);
        $openids = [];
        $messages = [];
        for ($i = 0; $i < 500; ++$i) {
            $openids[] = $openid = self::openid(sprintf('B%04d', $i));
            $messages[] = Message::make('order_paid', $openid, ['product' => "p{$i}", 'price' => (string) $i]);
        }
        $replies = $client->pushMany($messages);
        $this->assertCount(500, $replies);
        $this->assertSame(array_fill(0, 500, 200), array_map(fn ($r) => $r->code, $replies));
        $this->assertCount(500, array_unique(array_map(fn ($r) => $r->opaque, $replies)), 'one opaque each');
        $this->assertSame(1, $client->connects());
        $this->assertSame(0, $client->strayReplies());
        self::expectDelivered(...$openids);
    }

    public function testMixedBatchKeepsEachReplyInItsPlace(): void
    {
        $batch = $this->client(['window' => 2])->batch();
        $batch->push(self::openid('Mixed1'), 'order_paid', ['product' => 'a']);
        $batch->tset('order_paid');
        $batch->push(self::openid('Mixed2'), 'no_such_template');
        $batch->send(self::openid('Mixed3'), 'order_paid', ['product' => 'b']);
        $replies = $batch->run();
        $this->assertSame([200, 200, 400, 200], array_map(fn ($r) => $r->code, $replies));
        $this->assertSame('template key not exists', $replies[2]->message);
        self::expectDelivered(self::openid('Mixed1'), self::openid('Mixed3'));
    }

    public function testReplyTimeoutThenTheNextCallReconnects(): void
    {
        $client = $this->client(['timeout' => 0.3]);
        $this->assertTrue($client->tset('order_paid')->ok());
        self::configureFake(['latency_ms' => 3000]);  // WeChat answers after the client gave up
        try {
            $client->send(self::openid('Slow'), 'order_paid', ['product' => 'slow']);
            $this->fail('a send slower than the timeout must throw');
        } catch (TimeoutException $e) {
            $this->assertFalse($client->isConnected(), 'a timed-out connection is dropped');
        } finally {
            self::configureFake(['latency_ms' => 0]);
        }
        $this->assertTrue($client->push(self::openid('AfterSlow'), 'order_paid')->ok());
        $this->assertSame(2, $client->connects());
        self::expectDelivered(self::openid('Slow'), self::openid('AfterSlow'));
    }

    public function testReconnectAfterMegaClosedAnIdleConnection(): void
    {
        $client = $this->client([], 'MEGA_IDLE_PORT');
        $this->assertTrue($client->push(self::openid('Idle1'), 'order_paid')->ok());
        // Wait, without the client reading, until mega's close reaches the client's socket.
        $connection = (new \ReflectionProperty($client, 'connection'))->getValue($client);
        $stream = (new \ReflectionProperty($connection, 'stream'))->getValue($connection);
        $r = [$stream];
        $w = $e = [];
        $this->assertSame(1, stream_select($r, $w, $e, 30), 'mega closes an idle connection');
        $this->assertTrue($client->push(self::openid('Idle2'), 'order_paid')->ok());
        $this->assertSame(2, $client->connects(), 'the closed connection was replaced');
        self::expectDelivered(self::openid('Idle1'), self::openid('Idle2'));
    }

    public function testReconnectAfterMegaRestarts(): void
    {
        $client = $this->client(['reconnect_attempts' => 5]);
        $this->assertTrue($client->push(self::openid('Restart1'), 'order_paid')->ok());
        self::control('restart');  // mega stops (closing our connection) and starts on the same port
        $this->assertTrue($client->push(self::openid('Restart2'), 'order_paid', ['product' => 'after'])->ok());
        $this->assertSame(2, $client->connects());
        $batch = $client->batch();
        for ($i = 0; $i < 10; ++$i) {
            $batch->push(self::openid("Restart3{$i}"), 'order_paid');
        }
        $this->assertSame(array_fill(0, 10, 200), array_map(fn ($r) => $r->code, $batch->run()));
        self::expectDelivered(self::openid('Restart1'), self::openid('Restart2'));
    }
}
