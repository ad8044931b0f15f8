<?php
// A PSR-4 autoloader for Mega\ without Composer: `require 'path/to/clients/php/autoload.php';`
// (what the tests use). With Composer, composer.json's autoload section does the same.

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    if (strncmp($class, 'Mega\\', 5) !== 0) {
        return;
    }
    $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, 5)) . '.php';
    if (is_file($file)) {
        require $file;
    }
});
