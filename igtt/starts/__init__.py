"""Where the pseudo-labels start: label-free guesses of foreground and background, and what they need.

- :mod:`.images`: scaling and polarity (objects bright);
- :mod:`.field`: the field of view (padding and dark borders left out);
- :mod:`.kinds`: blobs or lines, and their typical size, estimated from the images;
- :mod:`.reduce`: an even sample of images, work at a reduced scale;
- :mod:`.background`: the background at the scale of the objects;
- :mod:`.labels`: :class:`StartLabels`, what every start gives;
- :mod:`.blobs`, :mod:`.lines`: the start of each kind; :mod:`.start`: the start a config asks for.
"""
