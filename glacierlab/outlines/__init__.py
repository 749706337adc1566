"""Outlines: mask to polygons, per-glacier split by an inventory, change between dates, expert bands.

It exports no names: import each from its module (e.g. ``from glacierlab.outlines.polygons import
mask_to_polygons``), so a name has one spelling.
"""
