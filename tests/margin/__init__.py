"""Tests of greeksmargin.margin."""
