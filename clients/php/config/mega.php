<?php
// mega's settings for Laravel: `php artisan vendor:publish --tag=mega-config` copies this
// file to config/mega.php; the MEGA_* variables of .env fill it.

return [
    // How notifications reach mega: "tcp" (its protocol port, listen[] in mega's ini) or
    // "http" (its HTTP submit API, [http] listen).
    'transport' => env('MEGA_TRANSPORT', 'tcp'),

    'tcp' => [
        // host:port of one of mega's listen[] addresses.
        'address' => env('MEGA_ADDRESS', '127.0.0.1:9501'),
        'connect_timeout' => (float) env('MEGA_CONNECT_TIMEOUT', 5),  // seconds
        'timeout' => (float) env('MEGA_TIMEOUT', 30),                 // seconds for a reply
        'reconnect_attempts' => (int) env('MEGA_RECONNECT_ATTEMPTS', 3),
    ],

    'http' => [
        // The base URL of mega's [http] listen address, e.g. http://127.0.0.1:9503.
        'url' => env('MEGA_HTTP_URL'),
        // The secret of one of mega's [http] keys (name:secret); sent as a bearer token.
        'key' => env('MEGA_HTTP_KEY'),
        'connect_timeout' => (float) env('MEGA_CONNECT_TIMEOUT', 5),
        'timeout' => (float) env('MEGA_TIMEOUT', 30),
    ],

    // Options every notification gets unless its toMega() sets them: priority (high,
    // normal, low), tries (1-100), source (which business line sends; shown in mega's logs).
    'defaults' => [
        'priority' => env('MEGA_PRIORITY'),
        'tries' => env('MEGA_TRIES'),
        'source' => env('MEGA_SOURCE'),
    ],

    // Use the notification's id (a UUID Laravel gives every notification, kept across the
    // retries of a queued one) as the msgkey when toMega() sets none, so that mega drops a
    // notification sent twice by a retried job.
    'msgkey_from_notification_id' => true,
];
