<?php
// Base of the tests against a real mega, started by tests/integration/test_php_client.py,
// which passes where everything is in the environment: MEGA_HOST/MEGA_PORT (TCP),
// MEGA_IDLE_PORT (a second mega with idle_timeout_s = 1), MEGA_HTTP_URL/MEGA_HTTP_KEY (empty
// when mega reports no http port), MEGA_FAKE_URL (fake-wechat's control API),
// MEGA_CONTROL_PORT (the runner: "restart" restarts mega on its port) and MEGA_EXPECT_FILE
// (openids the runner then checks fake-wechat received). Without MEGA_PORT these skip.

declare(strict_types=1);

namespace Mega\Tests\Integration;

use Mega\Tcp\Client;
use PHPUnit\Framework\TestCase;

abstract class MegaTestCase extends TestCase
{
    protected function setUp(): void
    {
        if (!getenv('MEGA_PORT')) {
            $this->markTestSkipped('no mega to test against: run tests/integration/test_php_client.py (ctest -R php)');
        }
    }

    protected static function env(string $name): string
    {
        return (string) getenv($name);
    }

    protected function client(array $options = [], ?string $portVar = 'MEGA_PORT'): Client
    {
        return new Client(self::env('MEGA_HOST'), (int) self::env($portVar), $options + ['timeout' => 30]);
    }

    /** An openid unique to this run, so that checks never see another test's messages. */
    protected static function openid(string $name): string
    {
        static $run = null;
        $run ??= substr(bin2hex(random_bytes(4)), 0, 6);
        return "oPhp{$run}{$name}";
    }

    /** Tells the runner that fake-wechat must receive a message for $openid. */
    protected static function expectDelivered(string ...$openids): void
    {
        file_put_contents(self::env('MEGA_EXPECT_FILE'), implode('', array_map(fn ($o) => "{$o}\n", $openids)), FILE_APPEND | LOCK_EX);
    }

    /** POST /fake/config on fake-wechat (latency_ms, fail_openids, …). */
    protected static function configureFake(array $config): void
    {
        $context = stream_context_create(['http' => ['method' => 'POST', 'header' => 'Content-Type: application/json', 'content' => json_encode($config), 'timeout' => 10]]);
        $answer = file_get_contents(self::env('MEGA_FAKE_URL') . '/fake/config', false, $context);
        if ($answer === false) {
            throw new \RuntimeException('fake-wechat refused its config: ' . json_encode($config));
        }
    }

    /** Sends one line to the runner's control port and returns its answer ("ok …"). */
    protected static function control(string $command): string
    {
        $s = stream_socket_client('tcp://127.0.0.1:' . self::env('MEGA_CONTROL_PORT'), $errno, $errstr, 10);
        if ($s === false) {
            throw new \RuntimeException("control port: {$errstr}");
        }
        stream_set_timeout($s, 120);
        fwrite($s, "{$command}\n");
        $answer = trim((string) fgets($s));
        fclose($s);
        if (!str_starts_with($answer, 'ok')) {
            throw new \RuntimeException("control {$command}: {$answer}");
        }
        return $answer;
    }
}
