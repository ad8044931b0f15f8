<?php
// Registers mega with Laravel (10, 11, 12; found by package discovery): merges config/mega.php
// under `mega`, binds the Sender (TCP or HTTP client, as configured) and the MegaChannel as
// singletons, adds the 'mega' driver to the notification ChannelManager, and offers the config
// file to `php artisan vendor:publish --tag=mega-config`.

declare(strict_types=1);

namespace Mega\Laravel;

use Illuminate\Notifications\ChannelManager;
use Illuminate\Support\ServiceProvider;
use Mega\Http\HttpClient;
use Mega\Sender;
use Mega\Tcp\Client;

class MegaServiceProvider extends ServiceProvider
{
    public function register(): void
    {
        $this->mergeConfigFrom(self::configFile(), 'mega');
        $this->app->singleton(Sender::class, fn ($app) => self::makeSender((array) $app['config']->get('mega', [])));
        $this->app->singleton(MegaChannel::class, fn ($app) => new MegaChannel($app->make(Sender::class), (array) $app['config']->get('mega', [])));
    }

    public function boot(): void
    {
        if ($this->app->runningInConsole()) {
            $this->publishes([self::configFile() => $this->app->configPath('mega.php')], 'mega-config');
        }
        $this->callAfterResolving(ChannelManager::class, function ($channels) {
            $channels->extend('mega', fn ($app) => $app->make(MegaChannel::class));
        });
    }

    /** The package's config file (what vendor:publish copies). */
    public static function configFile(): string
    {
        return dirname(__DIR__, 2) . '/config/mega.php';
    }

    /** The TCP or HTTP client the `mega` config asks for. */
    public static function makeSender(array $config): Sender
    {
        $transport = $config['transport'] ?? 'tcp';
        if ($transport === 'tcp') {
            $tcp = (array) ($config['tcp'] ?? []);
            $options = array_intersect_key($tcp, array_flip(['connect_timeout', 'timeout', 'reconnect_attempts']));
            return Client::fromAddress((string) ($tcp['address'] ?? '127.0.0.1:9501'), $options);
        }
        if ($transport === 'http') {
            $http = (array) ($config['http'] ?? []);
            if (empty($http['url']) || empty($http['key'])) {
                throw new \InvalidArgumentException('mega.transport is http: set mega.http.url and mega.http.key (MEGA_HTTP_URL, MEGA_HTTP_KEY)');
            }
            $options = array_intersect_key($http, array_flip(['connect_timeout', 'timeout']));
            return new HttpClient((string) $http['url'], (string) $http['key'], $options);
        }
        throw new \InvalidArgumentException("mega.transport must be tcp or http, not '{$transport}'");
    }
}
