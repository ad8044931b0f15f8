<?php
// MegaServiceProvider in a stand-in Laravel container: register() merges the config and binds
// the Sender and the channel, boot() adds the 'mega' driver to the ChannelManager (whether
// that was resolved before or after boot) and offers config/mega.php to vendor:publish under
// the provider and the tag mega-config; a notification with via(['mega']) reaches the Sender.

declare(strict_types=1);

namespace Mega\Tests\Laravel;

use Illuminate\Notifications\ChannelManager;
use Illuminate\Support\ServiceProvider;
use Mega\Http\HttpClient;
use Mega\Laravel\MegaChannel;
use Mega\Laravel\MegaServiceProvider;
use Mega\Sender;
use Mega\Tcp\Client;
use Mega\Tests\Stubs\Application;
use PHPUnit\Framework\TestCase;

final class MegaServiceProviderTest extends TestCase
{
    private function app(array $config = [], bool $console = true): Application
    {
        return new Application('/srv/app', $config, $console);
    }

    private function boot(Application $app): MegaServiceProvider
    {
        $provider = new MegaServiceProvider($app);
        $provider->register();
        $provider->boot();
        return $provider;
    }

    public function testConfigIsMergedUnderTheAppsOwnValues(): void
    {
        $app = $this->app(['mega' => ['tcp' => ['address' => '10.0.0.9:9601']]]);
        $this->boot($app);
        $this->assertSame('10.0.0.9:9601', $app['config']->get('mega.tcp.address'));
        $this->assertSame('tcp', $app['config']->get('mega.transport'), 'the package default fills what the app leaves out');
        $this->assertTrue($app['config']->get('mega.msgkey_from_notification_id'));
        $this->assertInstanceOf(Client::class, $app->make(Sender::class));
        $this->assertInstanceOf(MegaChannel::class, $app->make(MegaChannel::class));
    }

    public function testConfigIsPublishedByProviderAndTag(): void
    {
        $this->boot($this->app());
        $want = [MegaServiceProvider::configFile() => '/srv/app/config/mega.php'];
        $this->assertFileExists(MegaServiceProvider::configFile());
        $this->assertSame($want, ServiceProvider::pathsToPublish(MegaServiceProvider::class));
        $this->assertSame($want, ServiceProvider::pathsToPublish(null, 'mega-config'));
        $this->assertSame($want, ServiceProvider::pathsToPublish(MegaServiceProvider::class, 'mega-config'));
    }

    public function testMegaDriverWhetherTheManagerCameBeforeOrAfterBoot(): void
    {
        $early = $this->app();
        $manager = $early->make(ChannelManager::class);  // resolved before the provider boots
        $this->boot($early);
        $this->assertInstanceOf(MegaChannel::class, $manager->driver('mega'));

        $late = $this->app();
        $this->boot($late);
        $this->assertInstanceOf(MegaChannel::class, $late->make(ChannelManager::class)->driver('mega'));
    }

    public function testViaMegaReachesTheSender(): void
    {
        $app = $this->app();
        $this->boot($app);
        $sender = new RecordingSender();
        $app[Sender::class] = $sender;
        $app->make(ChannelManager::class)->send([new Customer('oLaravel1'), new Customer('oLaravel2')], new OrderPaid('coffee'));
        $this->assertSame(['oLaravel1', 'oLaravel2'], array_map(fn ($m) => $m->openid(), $sender->messages));
        $this->assertNotSame($sender->messages[0]->getMsgkey(), $sender->messages[1]->getMsgkey(), 'one id per notifiable');
    }

    public function testHttpTransport(): void
    {
        $sender = MegaServiceProvider::makeSender(['transport' => 'http', 'http' => ['url' => 'http://127.0.0.1:1', 'key' => 'k', 'timeout' => 3.0]]);
        $this->assertInstanceOf(HttpClient::class, $sender);
        $this->expectException(\InvalidArgumentException::class);
        MegaServiceProvider::makeSender(['transport' => 'http', 'http' => ['url' => 'http://127.0.0.1:1']]);
    }

    public function testUnknownTransport(): void
    {
        $this->expectExceptionMessage("mega.transport must be tcp or http, not 'smtp'");
        MegaServiceProvider::makeSender(['transport' => 'smtp']);
    }
}
