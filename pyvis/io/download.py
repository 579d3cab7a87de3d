"""Find a file in the Keras cache folders, or download it there the way Keras does.

Keras users already have the application weights under `$KERAS_HOME/models`, `~/.keras/models` or
`/tmp/.keras/models` (keras-formats.md §6), so those are searched first. A download streams into a
hidden temporary file in the cache folder while computing the md5, and only a complete file with
the right md5 is renamed (atomically) to its final name: an interrupted download never leaves a
file that a later run would trust.
"""

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request

MAX_DOWNLOAD_BYTES = 4 << 30
FALLBACK_BASE = "/tmp/.keras"        # where Keras goes when the home directory is not writable
CHUNK_BYTES = 1 << 20


class DownloadError(OSError):
    """A file could not be found in the cache nor downloaded with the expected checksum."""


def cache_dirs(cache_subdir="models"):
    """Cache folders in search order: $KERAS_HOME, ~/.keras, /tmp/.keras (each + `cache_subdir`)."""
    bases = []
    if os.environ.get("KERAS_HOME"):
        bases.append(os.environ["KERAS_HOME"])
    bases.append(os.path.join(os.path.expanduser("~"), ".keras"))
    bases.append(FALLBACK_BASE)
    out = []
    for base in bases:
        d = os.path.join(base, cache_subdir)
        if d not in out:
            out.append(d)
    return out


def file_hash(path, algorithm="md5"):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_BYTES), b""):
            h.update(block)
    return h.hexdigest()


def _hash_algorithm(expected):
    # Keras: 64 hex digits mean sha256, otherwise md5
    return "sha256" if expected is not None and len(expected) == 64 else "md5"


def find_cached(fname, file_hash_hex=None, cache_subdir="models"):
    """(path, rejected): the first cached copy whose hash matches, and the copies that did not match."""
    rejected = []
    for d in cache_dirs(cache_subdir):
        path = os.path.join(d, fname)
        if not os.path.isfile(path):
            continue
        if file_hash_hex is None:
            return path, rejected
        actual = file_hash(path, _hash_algorithm(file_hash_hex))
        if actual == file_hash_hex.lower():
            return path, rejected
        rejected.append((path, actual))
    return None, rejected


def _writable_cache_dir(cache_subdir):
    for d in cache_dirs(cache_subdir):
        try:
            os.makedirs(d, exist_ok=True)
        except OSError:
            continue
        if os.access(d, os.W_OK | os.X_OK):
            return d
    raise DownloadError(f"no writable cache folder among {cache_dirs(cache_subdir)}")


def _progress_bar(total, fname, enabled):
    from tqdm import tqdm
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"Downloading {fname}", disable=not enabled, leave=True)


def _stream(response, out, fname, progress):
    """Copy the response body into `out`; returns (bytes received, expected length or None, hasher)."""
    length = response.headers.get("Content-Length")
    expected = int(length) if length is not None and length.isdigit() else None
    if expected is not None and expected > MAX_DOWNLOAD_BYTES:
        raise DownloadError(f"{fname}: server announces {expected} bytes (limit {MAX_DOWNLOAD_BYTES})")
    received = 0
    hashes = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    with _progress_bar(expected, fname, progress) as bar:
        while True:
            block = response.read(CHUNK_BYTES)
            if not block:
                break
            received += len(block)
            if received > MAX_DOWNLOAD_BYTES:
                raise DownloadError(f"{fname}: download exceeds {MAX_DOWNLOAD_BYTES} bytes")
            out.write(block)
            for h in hashes.values():
                h.update(block)
            bar.update(len(block))
    return received, expected, hashes


def _describe_rejected(rejected):
    return "".join(f"; cached copy {p} has md5/sha256 {h} (wrong)" for p, h in rejected)


def get_file(fname, origin, file_hash_hex=None, cache_subdir="models", progress=True, timeout=60):
    """Path of `fname`: a cached copy with the right hash, else a fresh verified download.

    Raises DownloadError (an OSError) naming the file, its expected hash, the URL and the cache
    folder when the network fails or the downloaded bytes have the wrong hash.
    """
    if not isinstance(fname, str) or not fname or os.path.basename(fname) != fname:
        raise ValueError(f"fname must be a plain file name, got {fname!r}")
    scheme = urllib.parse.urlparse(origin).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"origin must be an http(s) URL, got {origin!r}")
    path, rejected = find_cached(fname, file_hash_hex, cache_subdir)
    if path is not None:
        return path

    cache_dir = _writable_cache_dir(cache_subdir)
    dest = os.path.join(cache_dir, fname)
    algo = _hash_algorithm(file_hash_hex)
    want = f"expected {algo} {file_hash_hex}" if file_hash_hex else "no checksum given"
    hint = (f"download {origin} by hand and save it as {dest} "
            f"(or in any of {cache_dirs(cache_subdir)}); {want}{_describe_rejected(rejected)}")

    fd, tmp = tempfile.mkstemp(prefix=f".{fname}.", suffix=".part", dir=cache_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(origin, timeout=timeout) as response:
                    received, expected, hashes = _stream(response, out, fname, progress)
            except DownloadError:
                raise
            except (OSError, http.client.HTTPException) as exc:
                # HTTPError/URLError (404, refused, offline), timeouts and IncompleteRead all mean
                # there is no usable file
                raise DownloadError(f"could not download {fname} from {origin}: {exc!r}. Offline? {hint}") from exc
            out.flush()
            os.fsync(out.fileno())
        if expected is not None and received != expected:
            raise DownloadError(f"download of {fname} from {origin} stopped after {received} of {expected} bytes "
                                f"(connection dropped). {hint}")
        if file_hash_hex is not None:
            actual = hashes[algo].hexdigest()
            if actual != file_hash_hex.lower():
                raise DownloadError(f"downloaded {fname} from {origin} has {algo} {actual}, expected "
                                    f"{file_hash_hex}: the file is corrupt or not the one expected; nothing was "
                                    f"saved in {cache_dir}. Retry, or {hint}")
        os.replace(tmp, dest)
        tmp = None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    return dest
