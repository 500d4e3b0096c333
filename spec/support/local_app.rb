require "middle_management/local_formation"

# An app as it runs on Heroku, in real processes, for the specs that need
# several: the local formation serves Heroku's API on 127.0.0.1 and runs
# the Procfile's worker at the quantity it is set to (DYNO=worker.N, SIGTERM
# from the highest number down, SIGKILL `grace` seconds later), with the
# gem's MIDDLE_MANAGEMENT_* variables in every process's environment.
#
#   heroku, supervisor = start_formation(dir, "ruby worker.rb", vars, token: "…", grace: 1.5, boot_delay: 5)
#   formation_log(dir)  # what the dynos printed, and the formation's own lines
module LocalApp
  APP = "example".freeze

  def start_formation(dir, worker_command, vars, token:, grace: 10, boot_delay: 0)
    File.write(File.join(dir, "Procfile"), "worker: #{worker_command}\n")
    output = File.open(formation_log_path(dir), "w").tap { |f| f.sync = true }
    on_release { output.close }
    supervisor = MiddleManagement::LocalFormation::Supervisor.new(File.join(dir, "Procfile"), grace: grace, output: output,
                                                                boot_delay: boot_delay)
    heroku = FakeHeroku.start(app: APP, token: token, formation: { "worker" => 0 }, supervisor: supervisor)
    supervisor.env = app_env(heroku, vars)
    on_release { supervisor.stop_all(grace: 0) }
    [heroku, supervisor]
  end

  # `vars` without their prefix ("MAX_WORKERS" => 4), and the fake Heroku's URL.
  # These apps run on a compressed clock (throttles of a second or less, jobs
  # of a second): the change budget, an hour's worth of real time, is off
  # unless `vars` sets it (pacing.rs and spec/simulate_spec.rb specify it).
  def app_env(heroku, vars)
    { "CHANGES_PER_HOUR" => 0 }.merge(vars).merge("HEROKU_API_URL" => heroku.url)
                               .to_h { |name, value| ["MIDDLE_MANAGEMENT_#{name}", value.to_s] }
  end

  def formation_log_path(dir) = File.join(dir, "formation.log")

  def formation_log(dir) = File.read(formation_log_path(dir))
end

RSpec.configure { |config| config.include LocalApp }
