<?php
// The Laravel channel end to end: MegaServiceProvider booted in the stand-in container with
// the config pointing at the real mega (TCP, and HTTP when mega has it), a notification with
// via(['mega']) sent through the ChannelManager; sending the same notification again (same
// id, as a retried queued job does) is dropped by mega as a duplicate msgkey.

declare(strict_types=1);

namespace Mega\Tests\Integration;

use Illuminate\Notifications\ChannelManager;
use Mega\Laravel\MegaChannel;
use Mega\Laravel\MegaServiceProvider;
use Mega\Tests\Laravel\Customer;
use Mega\Tests\Laravel\OrderPaid;
use Mega\Tests\Stubs\Application;

final class LaravelChannelTest extends MegaTestCase
{
    private function channels(array $mega): ChannelManager
    {
        $app = new Application(sys_get_temp_dir(), ['mega' => $mega]);
        $provider = new MegaServiceProvider($app);
        $provider->register();
        $provider->boot();
        return $app->make(ChannelManager::class);
    }

    public function testNotificationViaTcp(): void
    {
        $channels = $this->channels(['tcp' => ['address' => self::env('MEGA_HOST') . ':' . self::env('MEGA_PORT')], 'defaults' => ['source' => 'laravel-tests']]);
        $openid = self::openid('Laravel');
        $notification = new OrderPaid('milk');
        $notification->id = '0d9e1c5a-3f43-4c55-8a7e-' . substr(hash('sha256', $openid), 0, 12);
        $channels->send(new Customer($openid), $notification);
        $again = $channels->driver('mega')->send(new Customer($openid), $notification);
        $this->assertTrue($again->isDuplicate(), 'the same notification id is the same msgkey');
        self::expectDelivered($openid);
    }

    public function testNotificationViaHttp(): void
    {
        if (!getenv('MEGA_HTTP_URL')) {
            $this->markTestSkipped('mega reports no http port in its status file: this build has no HTTP submit API');
        }
        $channels = $this->channels(['transport' => 'http', 'http' => ['url' => self::env('MEGA_HTTP_URL'), 'key' => self::env('MEGA_HTTP_KEY')]]);
        $openid = self::openid('LaravelHttp');
        $submitted = $channels->driver('mega')->send(new Customer($openid), new OrderPaid('bread'));
        $this->assertFalse($submitted->duplicate);
        $this->assertInstanceOf(MegaChannel::class, $channels->driver('mega'));
        self::expectDelivered($openid);
    }
}
