// Draw the page for the kind of data embedded; tests wait for data-ready.
if (DATA.kind === "train") trainView();
else evalView();
document.body.setAttribute("data-ready", "1");
