<?php
// Stand-in for Laravel's Illuminate\Support\ServiceProvider (10, 11, 12): the members
// MegaServiceProvider uses, with the bodies Laravel gives them (mergeConfigFrom,
// publishes/pathsToPublish, callAfterResolving), so the provider is tested as it will run.

namespace Illuminate\Support;

abstract class ServiceProvider
{
    /** @var \Mega\Tests\Stubs\Application */
    protected $app;

    public static $publishes = [];
    public static $publishGroups = [];

    public function __construct($app)
    {
        $this->app = $app;
    }

    public function register()
    {
    }

    protected function mergeConfigFrom($path, $key)
    {
        if (!$this->app->configurationIsCached()) {
            $config = $this->app->make('config');
            $config->set($key, array_merge(require $path, $config->get($key, [])));
        }
    }

    protected function callAfterResolving($name, $callback)
    {
        $this->app->afterResolving($name, $callback);
        if ($this->app->resolved($name)) {
            $callback($this->app->make($name), $this->app);
        }
    }

    protected function publishes(array $paths, $groups = null)
    {
        $class = static::class;
        static::$publishes[$class] = array_merge(static::$publishes[$class] ?? [], $paths);
        foreach ((array) $groups as $group) {
            static::$publishGroups[$group] = array_merge(static::$publishGroups[$group] ?? [], $paths);
        }
    }

    public static function pathsToPublish($provider = null, $group = null)
    {
        if ($provider && $group) {
            return array_intersect_key(static::$publishes[$provider] ?? [], static::$publishGroups[$group] ?? []);
        }
        if ($group) {
            return static::$publishGroups[$group] ?? [];
        }
        return $provider ? static::$publishes[$provider] ?? [] : array_merge([], ...array_values(static::$publishes));
    }
}
