"""The demo portfolio and its stories (loaded through the layers below, like a person would)."""
