<?php
// PHPUnit bootstrap: the package's own autoloader (no Composer needed), Mega\Tests\ from
// tests/, and the Laravel stand-ins (Illuminate\… under tests/Stubs/) for the channel tests.

declare(strict_types=1);

require dirname(__DIR__) . '/autoload.php';

spl_autoload_register(static function (string $class): void {
    foreach (['Mega\\Tests\\' => __DIR__ . '/', 'Illuminate\\' => __DIR__ . '/Stubs/Illuminate/'] as $prefix => $dir) {
        if (strncmp($class, $prefix, strlen($prefix)) === 0) {
            $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) {
                require $file;
            }
            return;
        }
    }
});

if (!function_exists('env')) {
    /** Laravel's env() helper, as far as config/mega.php needs it. */
    function env(string $key, mixed $default = null): mixed
    {
        $value = getenv($key);
        return $value === false || $value === '' || $value === 'null' ? $default : $value;
    }
}
