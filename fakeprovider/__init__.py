"""The fake provider: a local HTTP server that imitates OpenAI, Anthropic, Gemini and vLLM for tests.

Nothing here is a real model. It answers deterministically, speaks each provider's wire format (including
its error bodies and rate-limit headers), and can be scripted to fail, stall or lie about usage.
"""
