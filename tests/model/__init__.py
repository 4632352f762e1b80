"""Tests of greeksmargin.model."""
