"""Drawing for people: :mod:`.layouts` makes rich tables from views (:mod:`xentcli.views`), with the
number of class columns as an argument; :mod:`.console` prints renderables to a terminal or as
plain text. ``rich`` is imported only when something is drawn."""
