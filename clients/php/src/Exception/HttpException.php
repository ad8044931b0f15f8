<?php
// An error answer of mega's HTTP API: {"error":{"code":"…","message":"…"}} with its HTTP
// status. Subclasses name the statuses a caller may handle differently; getErrors() lists the
// per-message problems of a refused batch (422).

declare(strict_types=1);

namespace Mega\Exception;

class HttpException extends \RuntimeException implements MegaException
{
    /** @param list<array{index:int,message:string}> $errors */
    public function __construct(
        private int $status,
        private string $errorCode,
        string $message,
        private array $errors = [],
        private string $body = ''
    ) {
        parent::__construct("HTTP {$status} {$errorCode}: {$message}", $status);
    }

    /** The exception class for an HTTP status (HttpException itself for an unlisted one). */
    public static function forStatus(int $status, string $errorCode, string $message, array $errors = [], string $body = ''): self
    {
        $class = [
            400 => BadRequestException::class,
            401 => AuthenticationException::class,
            404 => NotFoundException::class,
            409 => ConflictException::class,
            413 => PayloadTooLargeException::class,
            422 => ValidationException::class,
            429 => QueueFullException::class,
            503 => UnavailableException::class,
        ][$status] ?? self::class;
        return new $class($status, $errorCode, $message, $errors, $body);
    }

    public function getStatus(): int
    {
        return $this->status;
    }

    /** The API's error code ("unauthorized", "queue_full", …). */
    public function getErrorCode(): string
    {
        return $this->errorCode;
    }

    /** @return list<array{index:int,message:string}> */
    public function getErrors(): array
    {
        return $this->errors;
    }

    /** The raw response body. */
    public function getBody(): string
    {
        return $this->body;
    }
}
