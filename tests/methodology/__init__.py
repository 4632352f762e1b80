"""Tests of greeksmargin.methodology."""
