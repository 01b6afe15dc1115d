// The periodic task form's crontab help, with the chosen schedule in words (django-celery-beat's
// inline script, served as a file so the Content-Security-Policy allows it).
(function () {
  "use strict";
  var $ = django.jQuery;
  var script = document.getElementById("periodic-task-overrides");
  var readableCrontabs = JSON.parse(document.getElementById("readable-crontabs").textContent);
  var originalHelp = script.dataset.crontabHelp || "";

  $(".field-crontab_translation").hide();
  $(".field-crontab").change(function () {
    var help = $(".field-crontab .help");
    help.text(originalHelp);
    help.append("<br>").append(document.createTextNode("Translation: " + readableCrontabs[$("#id_crontab").val()]));
  });
})();
