"""glacierlab_widgets: ipywidgets + leafmap components that wrap glacierlab library functions."""
