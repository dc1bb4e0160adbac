"""Documents on paper and in the archive, made from pbflow's own records.

What every document shares lives here: the embedded CJK font (``fonts``), the page template,
styles and the parts forms are made of (``pdf``), the audit of every print or download
(``printing``), the summary of a case and its archive with the proof against the audit chain
(``archive``), and the yearly volume of minutes (``volume``). What a document says is decided
by the procedure it belongs to: member development's record and forms in
``pbflow/procedures/member_development/documents.py``, the minutes of meetings in
``three_meetings`` and ``life_meeting``.
"""
