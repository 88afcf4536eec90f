"""Part of stage 5 for ``--background separate``: the original without its speech, so the dub
goes over the music and effects at their own level instead of over a ducked original.

Separation costs about 0.07 of real time per distinct channel, so its output is an
artifact keyed by the input, the mix rate and the engine's model like any other stage.
"""

from __future__ import annotations

from dubbing_studio.domain.dub import MixPolicy
from dubbing_studio.domain.errors import EngineUnavailable, NotFound
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.engines.registry import EngineRegistry
from dubbing_studio.pipeline.artifacts import artifact_key
from dubbing_studio.pipeline.context import DubContext


def background_mode(policy: MixPolicy, registry: EngineRegistry) -> str:
    """The policy's background, with ``auto`` decided: ``separate`` where a separator can run
    here (it keeps the music and takes more of the voice out than ducking: see
    ``bench/separation.py``), else ``duck``."""
    if policy.background != "auto":
        return policy.background
    try:
        registry.separator()
    except (EngineUnavailable, NotFound):
        return "duck"
    return "separate"


async def separated_background(
    ctx: DubContext, digest: str, original: FloatAudio, rate: int
) -> FloatAudio:
    """``original`` (the input whose file has sha256 ``digest``, decoded at ``rate``) minus
    the speech the separator finds in it, shaped like ``original``."""
    separator = ctx.studio.registry.separator()
    key = artifact_key(
        "separate",
        input=digest,
        rate=rate,
        channels=original.shape[0],
        engine=separator.name,
        model=separator.model_id,
    )
    cached = await ctx.compute(ctx.store.load_audio, key)
    if cached is not None:
        return cached[0]
    _, background = await ctx.engine("separate", separator.name, separator.separate, original, rate)
    await ctx.compute(ctx.store.save_audio, key, background, rate)
    return background
