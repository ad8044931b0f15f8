<?php
// The HTTP client against a real mega's HTTP submit API: a single submission followed to
// "sent", a duplicate msgkey (found again by msgkey), a batch, a waited submission that is
// sent and one that fails with WeChat's errcode, a cancel (and one of a sent message, refused), an
// unknown id, a wrong key, a refused batch, and the kept-alive connection. Skipped only when
// mega reports no http port in its status file (a build without the HTTP API).

declare(strict_types=1);

namespace Mega\Tests\Integration;

use Mega\Exception\AuthenticationException;
use Mega\Exception\ConflictException;
use Mega\Exception\HttpException;
use Mega\Exception\NotFoundException;
use Mega\Http\HttpClient;
use Mega\Http\MessageStatus;
use Mega\Message;

final class HttpClientTest extends MegaTestCase
{
    protected function setUp(): void
    {
        parent::setUp();
        if (!getenv('MEGA_HTTP_URL')) {
            $this->markTestSkipped('mega reports no http port in its status file: this build has no HTTP submit API');
        }
    }

    private function http(?string $key = null): HttpClient
    {
        return new HttpClient(self::env('MEGA_HTTP_URL'), $key ?? self::env('MEGA_HTTP_KEY'), ['timeout' => 30]);
    }

    /** Polls the message's status until it is final (or 60 s pass). */
    /**
     * The message log shows a message a moment after its 202 (it is written in batches):
     * reads until `$accept` takes the status, for up to 60 s. A 404 counts as not yet.
     */
    private function logged(callable $read, ?callable $accept = null): MessageStatus
    {
        $deadline = microtime(true) + 60;
        $last = 'not in the log';
        do {
            try {
                $status = $read();
                if ($accept === null || $accept($status)) {
                    return $status;
                }
                $last = $status->status;
            } catch (NotFoundException $e) {
                $last = 'not in the log';
            }
            usleep(50000);
        } while (microtime(true) < $deadline);
        $this->fail("message still {$last} after 60 s");
    }

    private function finalStatus(HttpClient $http, string $id): MessageStatus
    {
        return $this->logged(fn () => $http->status($id), fn ($s) => $s->isFinal());
    }

    public function testSubmitThenFollowToSent(): void
    {
        $http = $this->http();
        $openid = self::openid('Http1');
        $submitted = $http->submit(Message::make('order_paid', $openid, ['product' => 'http', 'price' => '2']));
        $this->assertFalse($submitted->duplicate);
        $this->assertMatchesRegularExpression('/^[0-9]+$/', (string) $submitted->id);
        $this->assertContains($this->logged(fn () => $http->status($submitted->id))->status, ['queued', 'waiting', 'sending', 'retrying', 'sent']);
        $final = $this->finalStatus($http, $submitted->id);
        $this->assertSame('sent', $final->status);
        $this->assertIsInt($final->msgid);
        $this->assertSame(1, $http->connectionsOpened(), 'requests share one kept-alive connection');
        self::expectDelivered($openid);
    }

    public function testDuplicateMsgkey(): void
    {
        $http = $this->http();
        $message = Message::make('order_paid', self::openid('HttpDup'), ['product' => 'x'])->msgkey('php-http-' . self::openid('HttpDup'));
        $first = $http->submit($message);
        $second = $http->submit($message);
        $this->assertSame([false, true, null], [$first->duplicate, $second->duplicate, $second->id]);
        $this->assertSame($first->id, $this->logged(fn () => $http->statusByMsgkey($message->getMsgkey()))->id);
        self::expectDelivered($message->openid());
    }

    public function testBatch(): void
    {
        $openids = [self::openid('HttpB0'), self::openid('HttpB1'), self::openid('HttpB2')];
        $results = $this->http()->submitBatch(array_map(fn ($o) => Message::make('order_paid', $o, ['product' => $o])->priority('low'), $openids));
        $this->assertCount(3, $results);
        $this->assertCount(3, array_unique(array_map(fn ($r) => $r->id, $results)));
        self::expectDelivered(...$openids);
    }

    public function testSubmitAndWaitSentAndFailed(): void
    {
        $http = $this->http();
        $sent = $http->submitAndWait(Message::make('order_paid', self::openid('HttpWait'), ['product' => 'w']), 30);
        $this->assertSame('sent', $sent->status);
        $this->assertIsInt($sent->msgid);
        $failing = self::openid('HttpFail');
        self::configureFake(['fail_openids' => [$failing => 43004]]);
        try {
            $failed = $http->submitAndWait(Message::make('order_paid', $failing)->tries(1), 30);
        } finally {
            self::configureFake(['fail_openids' => new \stdClass()]);
        }
        $this->assertSame(['failed', 43004], [$failed->status, $failed->errcode]);
        self::expectDelivered(self::openid('HttpWait'));
    }

    public function testCancel(): void
    {
        $http = $this->http();
        $id = $http->submit(Message::make('order_paid', self::openid('HttpCancel'))->delay(3600))->id;
        $this->assertSame('cancelled', $http->cancel($id)->status);
        $this->assertSame('cancelled', $this->logged(fn () => $http->status($id), fn ($s) => $s->status === 'cancelled')->status);
        $sent = $http->submitAndWait(Message::make('order_paid', self::openid('HttpSentCancel')), 30);
        $this->assertSame('sent', $sent->status);
        try {
            $http->cancel($sent->id);
            $this->fail('a sent message cannot be cancelled');
        } catch (ConflictException $e) {
            $this->assertSame(409, $e->getStatus());
        }
        self::expectDelivered(self::openid('HttpSentCancel'));
    }

    public function testUnknownIdAndMsgkey(): void
    {
        try {
            $this->http()->status('1');
            $this->fail('no message 1');
        } catch (NotFoundException $e) {
            $this->assertSame(404, $e->getStatus());
        }
        $this->expectException(NotFoundException::class);
        $this->http()->statusByMsgkey('php-never-used-' . self::openid('X'));
    }

    public function testWrongKey(): void
    {
        try {
            $this->http('not-the-key')->submit(Message::make('order_paid', self::openid('HttpAuth')));
            $this->fail('a wrong key must be refused');
        } catch (AuthenticationException $e) {
            $this->assertSame(401, $e->getStatus());
            $this->assertStringNotContainsString('not-the-key', $e->getMessage());
        }
    }

    public function testRefusedBatchNamesTheBadMessage(): void
    {
        // A priority the client itself would refuse, set behind its back, so that mega judges it.
        $bad = Message::make('order_paid', self::openid('HttpBad'));
        (new \ReflectionProperty($bad, 'priority'))->setValue($bad, 'urgent');
        try {
            $this->http()->submitBatch([Message::make('order_paid', self::openid('HttpOk')), $bad]);
            $this->fail('a batch with a bad message must be refused');
        } catch (HttpException $e) {
            $this->assertContains($e->getStatus(), [400, 422], $e->getMessage());
            if ($e->getStatus() === 422) {
                $this->assertSame(1, $e->getErrors()[0]['index'] ?? null, $e->getBody());
            }
        }
    }
}
