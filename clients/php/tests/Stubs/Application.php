<?php
// Stand-in for Laravel's application container, as far as MegaServiceProvider and the
// ChannelManager use it: singleton/make/resolved/afterResolving, $app['config'],
// runningInConsole, configPath, configurationIsCached.

declare(strict_types=1);

namespace Mega\Tests\Stubs;

use Illuminate\Config\Repository;

final class Application implements \ArrayAccess
{
    private array $bindings = [];
    private array $instances = [];
    private array $afterResolving = [];

    public function __construct(private string $basePath, array $config = [], private bool $console = true)
    {
        $this->instances['config'] = new Repository($config);
    }

    public function singleton(string $abstract, \Closure $concrete): void
    {
        $this->bindings[$abstract] = $concrete;
    }

    public function make(string $abstract): mixed
    {
        if (!array_key_exists($abstract, $this->instances)) {
            if (!isset($this->bindings[$abstract])) {
                if (!class_exists($abstract)) {
                    throw new \LogicException("nothing bound for {$abstract}");
                }
                $this->bindings[$abstract] = fn ($app) => new $abstract($app);
            }
            $this->instances[$abstract] = ($this->bindings[$abstract])($this, []);
            foreach ($this->afterResolving[$abstract] ?? [] as $callback) {
                $callback($this->instances[$abstract], $this);
            }
        }
        return $this->instances[$abstract];
    }

    public function resolved(string $abstract): bool
    {
        return array_key_exists($abstract, $this->instances);
    }

    public function afterResolving(string $abstract, \Closure $callback): void
    {
        $this->afterResolving[$abstract][] = $callback;
    }

    public function runningInConsole(): bool
    {
        return $this->console;
    }

    public function configurationIsCached(): bool
    {
        return false;
    }

    public function configPath(string $path = ''): string
    {
        return $this->basePath . '/config' . ($path !== '' ? '/' . $path : '');
    }

    public function offsetExists(mixed $key): bool
    {
        return isset($this->bindings[$key]) || isset($this->instances[$key]);
    }

    public function offsetGet(mixed $key): mixed
    {
        return $this->make($key);
    }

    public function offsetSet(mixed $key, mixed $value): void
    {
        $this->instances[$key] = $value;
    }

    public function offsetUnset(mixed $key): void
    {
        unset($this->instances[$key], $this->bindings[$key]);
    }
}
