"""kombu's ``filesystem://`` transport with whole-message writes: the embedded broker.

kombu's own ``_put`` creates ``<time>_<uuid>.<queue>.msg`` and then writes into it, so a
consumer polling the folder can move and read the file between the two and find it empty; its
``json.loads`` then raises inside the consumer and the embedded worker stops taking jobs (seen
in a fresh-clone CI run: an upload's job was sent and never ran). Here a message is written to
a dot-file the consumer never matches (``.<name>.tmp``; nor does the recovery scan, which globs
``*.msg``), synced, then renamed to its final name: a rename within one folder is atomic, so a
consumer only ever sees whole messages.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):  # noqa: ANN001, ANN003, ANN202
        """Put ``payload`` onto ``queue``: write a hidden temp file, then rename it into place."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        tmp = os.path.join(self.data_folder_out, f".{name}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
