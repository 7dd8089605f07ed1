"""Audio in: any file to mono float32 at 22,050 Hz, streamed in bounded chunks and validated."""

from synesthete.audio.decode import SR, AudioInfo, decode, decode_span, iter_chunks, probe

__all__ = ["SR", "AudioInfo", "decode", "decode_span", "iter_chunks", "probe"]
