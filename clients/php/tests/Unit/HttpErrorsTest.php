<?php
// The HTTP client against a stand-in server (`php -S` with tests/fixtures/http-stub.php):
// each error status becomes its own exception type with the API's code, message and
// status; the key travels only as a bearer token and is in no exception message; the
// msgkey goes as Idempotency-Key. HttpClientTest runs the same client against real mega.

declare(strict_types=1);

namespace Mega\Tests\Unit;

use Mega\Exception\AuthenticationException;
use Mega\Exception\ConnectionException;
use Mega\Exception\HttpException;
use Mega\Exception\NotFoundException;
use Mega\Exception\PayloadTooLargeException;
use Mega\Exception\ProtocolException;
use Mega\Exception\QueueFullException;
use Mega\Exception\UnavailableException;
use Mega\Exception\ValidationException;
use Mega\Http\HttpClient;
use Mega\Message;
use PHPUnit\Framework\TestCase;

final class HttpErrorsTest extends TestCase
{
    /** @var resource|null */
    private static $server = null;
    private static array $pipes = [];
    private static string $url = '';

    public static function setUpBeforeClass(): void
    {
        $router = dirname(__DIR__) . '/fixtures/http-stub.php';
        self::$server = proc_open([PHP_BINARY, '-S', '127.0.0.1:0', $router], [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['pipe', 'w']], self::$pipes);
        $deadline = microtime(true) + 20;
        $seen = '';
        while (microtime(true) < $deadline && !preg_match('~\(http://(127\.0\.0\.1:\d+)\) started~', $seen, $m)) {
            $r = [self::$pipes[2]];
            $w = $e = [];
            if (stream_select($r, $w, $e, 1) > 0) {
                $line = fgets(self::$pipes[2]);
                if ($line === false) {
                    break;
                }
                $seen .= $line;
            }
        }
        if (!isset($m[1])) {
            throw new \RuntimeException("php -S did not report its port: {$seen}");
        }
        self::$url = "http://{$m[1]}";
    }

    public static function tearDownAfterClass(): void
    {
        if (self::$server !== null) {
            proc_terminate(self::$server);
            fclose(self::$pipes[2]);
            proc_close(self::$server);
        }
    }

    private function client(string $key = 'stub-secret'): HttpClient
    {
        return new HttpClient(self::$url . '/', $key, ['timeout' => 10]);
    }

    private function failure(string $openid, string $key = 'stub-secret'): HttpException
    {
        try {
            $this->client($key)->submit(Message::make('order_paid', $openid, ['a' => 'b']));
        } catch (HttpException $e) {
            $this->assertStringNotContainsString($key, $e->getMessage());
            return $e;
        }
        $this->fail("{$openid}: no exception");
    }

    public function testAcceptedSubmission(): void
    {
        $r = $this->client()->submit(Message::make('order_paid', 'oOk', ['a' => 'b'])->msgkey('idem-1'));
        $this->assertSame(['12345678901234567', false], [$r->id, $r->duplicate]);
    }

    public function testEachStatusHasItsException(): void
    {
        foreach (['s413' => [PayloadTooLargeException::class, 413, 'too_large'],
                  's429' => [QueueFullException::class, 429, 'queue_full'],
                  's503' => [UnavailableException::class, 503, 'unavailable']] as $openid => [$class, $status, $code]) {
            $e = $this->failure($openid);
            $this->assertInstanceOf($class, $e);
            $this->assertSame([$status, $status, $code], [$e->getStatus(), $e->getCode(), $e->getErrorCode()]);
        }
    }

    public function testWrongKeyIsAuthenticationException(): void
    {
        $e = $this->failure('oOk', 'not-the-secret');
        $this->assertInstanceOf(AuthenticationException::class, $e);
        $this->assertSame('unauthorized', $e->getErrorCode());
    }

    public function testBatchRefusalListsTheBadMessages(): void
    {
        try {
            $this->client()->submitBatch([Message::make('order_paid', 'o1'), Message::make('nope', 'o2')]);
            $this->fail('no exception');
        } catch (ValidationException $e) {
            $this->assertSame([['index' => 1, 'message' => 'unknown template key']], $e->getErrors());
        }
    }

    public function testBodyThatIsNotTheApisJson(): void
    {
        $e = $this->failure('sraw');
        $this->assertSame([502, 'http_502', 'Bad Gateway'], [$e->getStatus(), $e->getErrorCode(), $e->getBody()]);
        $this->assertStringContainsString('Bad Gateway', $e->getMessage());
        $this->expectException(ProtocolException::class);
        $this->client()->submit(Message::make('order_paid', 'sweird'));
    }

    public function testStatusAndNotFound(): void
    {
        $s = $this->client()->status('7');
        $this->assertSame(['7', 'retrying', 2, 45009, 'quota', null, false], [$s->id, $s->status, $s->attempts, $s->errcode, $s->error, $s->msgid, $s->isFinal()]);
        $this->expectException(NotFoundException::class);
        $this->client()->status('8');
    }

    public function testUnreachableServerIsConnectionException(): void
    {
        // A port bound and never listening (held until the end): a connect there is refused.
        $socket = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
        socket_bind($socket, '127.0.0.1', 0);
        socket_getsockname($socket, $host, $port);
        $this->expectException(ConnectionException::class);
        try {
            (new HttpClient("http://127.0.0.1:{$port}", 'k', ['connect_timeout' => 2]))->status('1');
        } finally {
            socket_close($socket);
        }
    }
}
